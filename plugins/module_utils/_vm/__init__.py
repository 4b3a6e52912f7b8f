# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This package is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The VM-side layer: what lands on the VM, rendered without calling the API.

``vm_contract`` owns the names the collection and the agent agree on; ``container_unit`` renders a
container's systemd unit; ``cloud_config`` owns #cloud-config documents; ``cos_agent`` and
``agent_scripts`` carry the agent (the shell files of ``_agent/``); ``disk_units`` the disk units.
"""
