# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This package is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The fast path (docs/dev/fast-path.md): one API helper process per play keeps google-cloud-compute imported.

``api_helper_client`` is what a module uses (the same calls as ``_gcp.gcp_client.ComputeApi``, falling back
to them), ``api_helper_server`` the helper, ``api_helper_protocol`` what both import (framing, heartbeats,
the owning play, the private directory), ``code_cache`` the compiled module_utils kept across tasks.
"""
