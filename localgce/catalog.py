"""Seed data: regions, zones, machine types, disk types and the cos-cloud images."""

from __future__ import annotations

import re

REGIONS = {
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    "europe-west4": ["europe-west4-a", "europe-west4-b", "europe-west4-c"],
    "asia-east1": ["asia-east1-a", "asia-east1-b", "asia-east1-c"],
}
ZONES = {z: r for r, zs in REGIONS.items() for z in zs}
# Subnetwork ranges of the auto-mode `default` network.
SUBNET_RANGES = {
    "us-central1": "10.128.0.0/20",
    "us-east1": "10.142.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "asia-east1": "10.140.0.0/20",
}
CPU_PLATFORM = {"e2": "AMD Rome", "n1": "Intel Broadwell", "n2": "Intel Cascade Lake", "c3": "Intel Sapphire Rapids",
                "n2d": "AMD Milan", "t2a": "Ampere Altra"}

# name: (guestCpus, memoryMb, description, shared core)
MACHINE_TYPES = {
    "e2-micro": (2, 1024, "Efficient Instance, 2 vCPU (1/8 shared physical core) and 1 GB RAM", True),
    "e2-small": (2, 2048, "Efficient Instance, 2 vCPU (1/4 shared physical core) and 2 GB RAM", True),
    "e2-medium": (2, 4096, "Efficient Instance, 2 vCPU (1/2 shared physical core) and 4 GB RAM", True),
    "e2-standard-2": (2, 8192, "Efficient Instance, 2 vCPUs, 8 GB RAM", False),
    "e2-standard-4": (4, 16384, "Efficient Instance, 4 vCPUs, 16 GB RAM", False),
    "e2-standard-8": (8, 32768, "Efficient Instance, 8 vCPUs, 32 GB RAM", False),
    "e2-highmem-2": (2, 16384, "Efficient Instance, 2 vCPUs, 16 GB RAM", False),
    "n1-standard-1": (1, 3840, "1 vCPU, 3.75 GB RAM", False),
    "n1-standard-2": (2, 7680, "2 vCPUs, 7.5 GB RAM", False),
    "n1-standard-4": (4, 15360, "4 vCPUs, 15 GB RAM", False),
    "n2-standard-2": (2, 8192, "2 vCPUs 8 GB RAM", False),
    "n2-standard-4": (4, 16384, "4 vCPUs 16 GB RAM", False),
    "n2-standard-8": (8, 32768, "8 vCPUs 32 GB RAM", False),
    "n2d-standard-2": (2, 8192, "2 vCPUs 8 GB RAM", False),
    "c3-standard-4": (4, 16384, "4 vCPUs 16 GB RAM", False),
    "c3-standard-8": (8, 32768, "8 vCPUs 32 GB RAM", False),
    "t2a-standard-1": (1, 4096, "1 vCPU, 4 GB RAM (Arm)", False),
}

_CUSTOM = re.compile(r"(?:(e2|n1|n2|n2d)-)?custom-([0-9]+)-([0-9]+)(-ext)?")


def custom_machine_type(name):
    """(guestCpus, memoryMb, description, shared) of a custom type like 'e2-custom-4-8192', or None."""
    m = _CUSTOM.fullmatch(name)
    if not m:
        return None
    cpus, mem = int(m.group(2)), int(m.group(3))
    if cpus < 1 or (cpus > 1 and cpus % 2) or mem % 256 or not (cpus * 512 <= mem or m.group(4)):
        return None
    return cpus, mem, f"Custom created machine type ({cpus} vCPUs, {mem} MB)", False


# name: (description, default size GB, valid range)
DISK_TYPES = {
    "pd-standard": ("Standard Persistent Disk", 500, "10GB-65536GB"),
    "pd-balanced": ("Balanced Persistent Disk", 100, "10GB-65536GB"),
    "pd-ssd": ("SSD Persistent Disk", 100, "10GB-65536GB"),
    "pd-extreme": ("Extreme Persistent Disk", 1000, "500GB-65536GB"),
    "hyperdisk-balanced": ("Hyperdisk Balanced Persistent Disk", 100, "4GB-65536GB"),
}

IMAGE_PROJECT = "cos-cloud"

# (family, name, deprecated state or None, replacement name or None, creation timestamp)
_X86 = [
    ("cos-stable", "cos-stable-121-18867-90-38", "DEPRECATED", "cos-stable-121-18867-199-28", "2025-06-10T10:00:00.000-07:00"),  # noqa: E501
    ("cos-stable", "cos-stable-121-18867-199-28", None, None, "2025-09-02T10:00:00.000-07:00"),
    ("cos-stable", "cos-stable-117-18613-164-98", "OBSOLETE", "cos-stable-121-18867-199-28", "2024-12-01T10:00:00.000-07:00"),  # noqa: E501
    ("cos-beta", "cos-beta-125-19216-0-48", "DEPRECATED", "cos-beta-125-19216-0-84", "2025-07-01T10:00:00.000-07:00"),
    ("cos-beta", "cos-beta-125-19216-0-84", None, None, "2025-09-15T10:00:00.000-07:00"),
    ("cos-dev", "cos-dev-129-19560-0-0", "DEPRECATED", "cos-dev-129-19580-0-0", "2025-09-01T10:00:00.000-07:00"),
    ("cos-dev", "cos-dev-129-19580-0-0", None, None, "2025-09-20T10:00:00.000-07:00"),
    ("cos-121-lts", "cos-121-18867-90-38", "DEPRECATED", "cos-121-18867-199-28", "2025-06-10T10:00:00.000-07:00"),
    ("cos-121-lts", "cos-121-18867-199-28", None, None, "2025-09-02T10:00:00.000-07:00"),
    ("cos-117-lts", "cos-117-18613-164-4", "DEPRECATED", "cos-117-18613-164-98", "2024-10-01T10:00:00.000-07:00"),
    ("cos-117-lts", "cos-117-18613-164-98", None, None, "2025-08-20T10:00:00.000-07:00"),
]


def cos_images():
    """[(name, family, architecture, deprecated_state, replacement, created)] incl. arm64 twins."""
    out = []
    for family, name, dep, repl, created in _X86:
        out.append((name, family, "X86_64", dep, repl, created))
        arm_family = "cos-arm64-" + family[len("cos-"):]
        out.append(("cos-arm64-" + name[len("cos-"):], arm_family, "ARM64", dep,
                    repl and "cos-arm64-" + repl[len("cos-"):], created))
    return out
