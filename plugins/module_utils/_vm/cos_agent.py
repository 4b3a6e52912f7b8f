# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The cos agent: the shell program that runs containers from instance metadata on a COS VM.

The agent and its fetch-secrets helper are the shell files in ``_agent/``; they reach this
module as ``agent_scripts`` (generated from them), because only the Python files of
module_utils travel with a module and cos_container must be able to install the agent on a
VM that lacks it (konlet migration). docs/dev/agent.md describes the behaviour; the names it
shares with cos_container are in ``vm_contract``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible_collections.gce.cos.plugins.module_utils._vm.agent_scripts import AGENT_SCRIPT, FETCH_SECRETS_SCRIPT
from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import (
    AGENT_PATH,
    AGENT_UNIT_NAME,
    AGENT_UNIT_PATH,
    FETCH_SECRETS_PATH,
)

__all__ = ("AGENT_SCRIPT", "AGENT_UNIT", "FETCH_SECRETS_SCRIPT", "agent_version", "cloud_init_fragment")

# /var is noexec on COS: the scripts are run by bash, never exec'd directly.
AGENT_UNIT = """\
[Unit]
Description=gce.cos agent: containers from instance metadata
Wants=network-online.target docker.service
After=network-online.target docker.service
# Never give up restarting: the agent is what keeps the containers converged.
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=/bin/bash {agent}
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
""".format(agent=AGENT_PATH)


def agent_version():
    """The version the agent reports in cos-agent/agent: 12 hex of the script's SHA-256."""
    return hashlib.sha256(AGENT_SCRIPT.encode("utf-8")).hexdigest()[:12]


def cloud_init_fragment():
    """The cloud-config parts that install and start the agent, as plain data.

    Returns a dict with ``write_files`` and ``runcmd`` lists, to merge into the VM's
    cloud-config. COS keeps /etc on tmpfs, so this runs on every boot; /var/lib/cos-agent
    (persistent) keeps the agent's record of applied revisions.
    """
    return {
        "write_files": [
            {"path": AGENT_PATH, "permissions": "0755", "owner": "root", "content": AGENT_SCRIPT},
            {"path": FETCH_SECRETS_PATH, "permissions": "0755", "owner": "root", "content": FETCH_SECRETS_SCRIPT},
            {"path": AGENT_UNIT_PATH, "permissions": "0644", "owner": "root", "content": AGENT_UNIT},
        ],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "restart", AGENT_UNIT_NAME],
        ],
    }
