# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This package is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The shared Google layer every engine runs on.

The module base (``gcp_module``), auth, the Compute API client with plain JSON data at its boundary
(``gcp_client``), retries, the one wait loop (``gcp_poll``), operations, errors, names, instance metadata
writes, plans and params. It imports nothing of the engines or of the VM layer (``_vm``); ``gcp_module``
hands calls to the API helper (``_api_helper``) when the play turns it on.
"""
