# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The contract between the collection and a VM: the names both sides agree on.

cos_container writes container units into instance metadata under ``METADATA_PREFIX``; the
cos agent on the VM (``_agent/cos-agent``, bash) reads them, installs them in ``UNIT_DIR``
and reports each container under the guest-attribute ``GUEST_ATTRIBUTE_NAMESPACE``. The
agent's shell defaults are tested against these values, so a change here is a change on
every VM: the agent and the units must move together.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# RFC1035 label, the one rule for every name in the contract: Compute Engine's resource and device
# names, and a container's name (in its unit name, its docker name and its metadata key).
NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")

# Instance metadata keys.
METADATA_PREFIX = "cos-container-"
USER_DATA_KEY = "user-data"
GUEST_ATTRIBUTES_KEY = "enable-guest-attributes"
LOGGING_KEY = "google-logging-enabled"
# The deprecated konlet agent's declaration: read (migration, inventory), never written.
KONLET_KEY = "gce-container-declaration"

# The metadata server, as the VM sees it.
METADATA_URL = "http://metadata.google.internal/computeMetadata/v1"

# Guest attributes: one key per container, plus the agent's own heartbeat.
GUEST_ATTRIBUTE_NAMESPACE = "cos-agent"
AGENT_REPORT_KEY = "agent"

# Paths on the VM. /var is persistent but noexec on COS: scripts there run as "bash SCRIPT".
STATE_DIR = "/var/lib/cos-agent"
BIN_DIR = STATE_DIR + "/bin"
AGENT_PATH = BIN_DIR + "/cos-agent"
FETCH_SECRETS_PATH = BIN_DIR + "/fetch-secrets"
# Prepares a persistent disk for its mount unit (disk_units.py).
DISK_PREPARE_PATH = BIN_DIR + "/disk-prepare"
# The docker client config of every container unit (registry logins, credential helpers).
DOCKER_CONFIG_DIR = STATE_DIR + "/docker"
# tmpfs: resolved secrets never reach a disk.
SECRETS_DIR = "/run/cos-agent/secrets"
UNIT_DIR = "/etc/systemd/system"
# Where the role's disk units mount persistent disks.
DISK_MOUNT_ROOT = "/mnt/disks"

# Units.
UNIT_PREFIX = METADATA_PREFIX
AGENT_UNIT_NAME = "cos-agent.service"
AGENT_UNIT_PATH = UNIT_DIR + "/" + AGENT_UNIT_NAME

# The comment lines of a container unit: the normalised spec (for diffs) and the image
# (for the agent's reports; bash reads it without parsing JSON).
SPEC_LINE_PREFIX = "# cos-spec: "
IMAGE_LINE_PREFIX = "# cos-image: "
# The readiness probe, when the spec has one: "TYPE INTERVAL TIMEOUT DEADLINE ARGS..." in words bash splits
# (container_unit.readiness_line); the agent probes with it.
READY_LINE_PREFIX = "# cos-ready: "
# A crash loop: a unit systemd restarted this often at one revision. The modules' wait fails there (one transient
# failure, a registry hiccup, is ridden out), and the agent rolls a start-first or probed stop-first update back.
CRASH_LOOP_RESTARTS = 3
# Start-first updates (the spec's order): "DEADLINE DRAIN PORT/PROTO..." (container_unit.switch_line).
# The agent installs such a unit as cos-container-NAME@REVISION.service (its container is NAME-REVISION), starts it
# beside the running one and moves the ports to it once it is ready.
SWITCH_LINE_PREFIX = "# cos-switch: "


def metadata_key(name):
    return METADATA_PREFIX + name


def container_units(metadata):
    """{container name: unit text} of a metadata dict. An empty value is a removed container: a
    group's all-instances configuration is only ever merged into, so a group removes a container by
    emptying its key, and the agent treats an empty key as no key."""
    return {
        key[len(METADATA_PREFIX):]: value
        for key, value in sorted(metadata.items())
        if key.startswith(METADATA_PREFIX) and value
    }


def unit_name(name):
    return UNIT_PREFIX + name + ".service"


def secrets_file(name):
    return "%s/%s.env" % (SECRETS_DIR, name)


# COS's docker.service starts dockerd with these flags (docs/dev/vm-simulator.md gives the sources),
# by the daemon.json key each one sets. dockerd refuses to start when a setting is given both as a
# flag and in /etc/docker/daemon.json.
COS_DOCKERD_FLAGS = {
    "registry-mirrors": "--registry-mirror=https://mirror.gcr.io",
    "hosts": "--host=fd://",
    "containerd": "--containerd=/var/run/containerd/containerd.sock",
}
