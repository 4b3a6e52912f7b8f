# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The planner of the cos_deploy role (behind the gce.cos.cos_deploy_plan filter, whose documentation says what
it checks and returns): every input checked, every container unit built, every module task's options checked by
its module, all before the role's first API call."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._deploy.checks import (
    err,
    given,
    module_errors,
    unknown_variables,
)
from ansible_collections.gce.cos.plugins.module_utils._disk import options as disk_options
from ansible_collections.gce.cos.plugins.module_utils._firewall import options as firewall_options
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import value_error
from ansible_collections.gce.cos.plugins.module_utils._instance import options as instance_options
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit, vm_contract
from ansible_collections.gce.cos.plugins.module_utils.plain_data import without_none

# The registries docker-credential-gcr logs in to with the VM's token (konlet and gcloud only ever
# authenticated these so): the role configures it for each of them that a container's image names.
GOOGLE_REGISTRY_RE = re.compile(r"^(gcr\.io|[a-z0-9-]+\.gcr\.io|[a-z0-9-]+-docker\.pkg\.dev)$")
SERVER_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$")
MOUNT_OPTION_RE = re.compile(r"^[A-Za-z0-9_=.,-]+$")
DEVICE_PREFIX = "/dev/disk/by-id/google-"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
LOGGING_WRITE = "https://www.googleapis.com/auth/logging.write"
ROLE_PREFIX = "cos_deploy_"
# COS toolbox's own TOOLBOX_BIND: the host root at /media/root, plus the disks, the stateful
# directories and DNS. Writing TOOLBOX_BIND replaces it, so the role's binds come after these.
TOOLBOX_DEFAULT_BINDS = ("/:/media/root", "/mnt/disks:/mnt/disks", "/var:/media/root/var",
                         "/home:/media/root/home", "/etc/resolv.conf:/etc/resolv.conf")
TOOLBOX_PATH_RE = re.compile(r"^/[A-Za-z0-9._@+~/-]*$")


def _port_key(text):
    port, proto = text.split("/")
    return (int(port), proto)


def _disks(raw, errors):
    out, devices = [], {}
    for i, disk in enumerate(raw or []):
        path = "cos_deploy_disks[%d]" % i
        name = disk.get("name")
        if not isinstance(name, str) or not vm_contract.NAME_RE.match(name):
            err(errors, path + ".name", name, "is not a valid disk name",
                "use 1-63 lowercase letters, digits and hyphens, starting with a letter")
            continue
        device = disk.get("device_name") or name
        if not vm_contract.NAME_RE.match(device):
            err(errors, path + ".device_name", device, "is not a valid device name",
                "use 1-63 lowercase letters, digits and hyphens, starting with a letter")
            continue
        if device in devices:
            err(errors, path + ".device_name", device, "is used by another disk too",
                "give each disk its own device_name")
            continue
        mount_path = disk.get("mount_path") or container_unit.disk_mount_path(device)
        norm = "/" + "/".join(p for p in mount_path.split("/") if p)
        if (not mount_path.startswith(vm_contract.DISK_MOUNT_ROOT + "/") or norm == vm_contract.DISK_MOUNT_ROOT
                or ".." in mount_path.split("/")
                or not container_spec.HOST_PATH_RE.match(mount_path)):
            err(errors, path + ".mount_path", mount_path, "is not a mount point under /mnt/disks",
                "use /mnt/disks/NAME (COS keeps / read-only and /mnt/disks is where disks are mounted)")
            continue
        options = disk.get("mount_options") or "discard,defaults"
        if not MOUNT_OPTION_RE.match(options):
            err(errors, path + ".mount_options", options, "is not a mount option list",
                "give comma-separated options such as discard,defaults")
            continue
        devices[device] = norm
        out.append({
            "name": name,
            "device_name": device,
            "size_gb": disk.get("size_gb"),
            "type": disk.get("type"),
            "labels": disk.get("labels"),
            "mount_path": norm,
            "mount_options": options,
            "format": disk.get("format", True) is not False,
            "resize": disk.get("resize", True) is not False,
            "device": DEVICE_PREFIX + device,
            "mount_unit": container_unit.systemd_escape_path(norm) + ".mount",
            "prepare_unit": "cos-disk-prepare-%s.service" % device,
            "resize_unit": "cos-disk-resize-%s.service" % device,
        })
    return out, devices


def _containers(raw, devices, errors, warnings):
    """The containers' ports and images ([(path, image)]), each unit built as cos_container builds it: a unit
    that cannot be written (over a metadata value's 256 KB) fails here, before the first disk exists."""
    ports, names, images = set(), set(), []
    if raw is not None and not isinstance(raw, list):
        err(errors, "cos_deploy_containers", raw, "is not a list",
            "give a list of container specs, [] for none (or leave it unset to leave the VM's containers alone)")
        return ports, images
    for i, spec in enumerate(raw or []):
        path = "cos_deploy_containers[%d]" % i
        try:
            built = container_unit.build(_typed(spec), path=path)
        except container_spec.SpecError as exc:
            errors.extend(str(e) for e in exc.errors)
            # The disks its volumes name are checked too, so that every error shows in one run.
            volumes = spec.get("volumes") if isinstance(spec, dict) else None
            _volume_disks(path, [v for v in volumes if isinstance(v, dict)] if isinstance(volumes, list) else [],
                          devices, errors)
            continue
        canon = built["spec"]
        what = "%s: the unit of container %s (metadata key %s)" % (path, canon["name"], built["metadata_key"])
        too_big = value_error(what, built["unit"])
        if too_big:
            errors.append("%s. Fix: make the spec smaller (fewer or shorter env values, labels or args)" % too_big)
        if canon["name"] in names:
            err(errors, path + ".name", canon["name"], "is used by another container too",
                "give each container its own name")
        names.add(canon["name"])
        warnings.extend(container_spec.warnings(canon))
        ports.update(canon["ports"])
        images.append((path, canon["image"]))
        _volume_disks(path, canon["volumes"], devices, errors)
    return ports, images


def _typed(spec):
    """A container entry with the type conversions M(gce.cos.cos_container) applies (AnsibleModule's), so the role
    accepts what the module accepts ("10" for an int, 0.5 for a float); unknown fields are kept, for container_spec
    to name them with the entry's index and the closest known field."""
    if not isinstance(spec, dict):
        return spec
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    typed = ArgumentSpecValidator(container_spec.argument_spec()).validate(dict(spec)).validated_parameters
    return {key: without_none(typed.get(key, value)) for key, value in spec.items()}


def _volume_disks(path, volumes, devices, errors):
    """Each disk volume names a disk of cos_deploy_disks, mounted where the container unit expects it."""
    for j, vol in enumerate(volumes):
        dev = vol.get("device_name")
        if not isinstance(dev, str):
            continue
        vpath = "%s.volumes[%d].device_name" % (path, j)
        if dev not in devices:
            err(errors, vpath, dev, "is not the device_name of a disk in cos_deploy_disks",
                "add the disk to cos_deploy_disks, or correct the name (known: %s)"
                % (", ".join(sorted(devices)) or "none"))
        elif vol.get("partition"):
            err(errors, vpath, dev, "names a partition, but the role's disk units mount whole disks",
                "leave out partition")
        elif devices[dev] != container_unit.disk_mount_path(dev):
            err(errors, vpath, dev, "is mounted at %s, not /mnt/disks/%s" % (devices[dev], dev),
                "leave out mount_path of that disk, or use a host_path volume under %s" % devices[dev])


def _registries(raw, images, errors, warnings):
    """The Google registries (those the images name, and those listed) and the third-party logins.

    A Google registry need not be listed: the role derives it from the images. An entry for one that an
    image names already is accepted (the role needed it before it derived them) with a warning that it can go.
    """
    google, logins = [], []
    derived = {}
    for path, image in images:
        host = container_unit.image_registry(image)
        if GOOGLE_REGISTRY_RE.match(host):
            derived.setdefault(host, path)
    for i, reg in enumerate(raw or []):
        path = "cos_deploy_registries[%d]" % i
        server = reg.get("server")
        if not isinstance(server, str) or not SERVER_RE.match(server):
            err(errors, path + ".server", server, "is not a registry host",
                "give the host name (and :port), e.g. europe-west1-docker.pkg.dev or registry.example.com")
            continue
        username, secret = reg.get("username"), reg.get("password_secret")
        if GOOGLE_REGISTRY_RE.match(server):
            for key, value in (("username", username), ("password_secret", secret)):
                if value is not None:
                    err(errors, "%s.%s" % (path, key), value, "is set for a Google registry", "leave it out: "
                        "the VM's service account authenticates to %s through docker-credential-gcr" % server,
                        hide=key == "password_secret")
            if server in derived:
                warnings.append("%s.server: %s need not be listed: the image of %s names it, and the role configures "
                                "docker-credential-gcr for every Google registry an image names. Fix: remove the "
                                "entry" % (path, server, derived[server]))
            if server not in google:
                google.append(server)
            continue
        if not username:
            err(errors, path + ".username", username, "is missing for the third-party registry %s" % server,
                "give the registry user name")
        parsed = container_spec.parse_secret_ref(secret) if isinstance(secret, str) else None
        if parsed is None:
            # Possibly the password itself, pasted by mistake: never echo it.
            err(errors, path + ".password_secret", secret, "is not a Secret Manager version reference",
                "store the password in Secret Manager and give projects/PROJECT/secrets/SECRET/versions/VERSION "
                "(or sm://PROJECT/SECRET); a plain password would be readable in the instance metadata",
                hide=True)
            continue
        if username:
            logins.append({"server": server, "username": username,
                           "password_secret": container_spec.secret_ref(*parsed),
                           "unit": "cos-registry-login-%d.service" % len(logins)})
    return sorted(set(google) | set(derived)), logins


def _extra_ports(raw, errors):
    out = set()
    # The same syntax as a container's ports: N, N/tcp or N/udp.
    for i, value in enumerate(raw or []):
        m = container_spec.PORT_RE.match(str(value)) if not isinstance(value, bool) else None
        if not m or not 1 <= int(m.group(1)) <= 65535:
            err(errors, "cos_deploy_firewall.extra_ports[%d]" % i, value, "is not a port",
                "use a number from 1 to 65535, or NUMBER/tcp or NUMBER/udp, e.g. 8080 or 53/udp")
            continue
        out.add((int(m.group(1)), m.group(2) or "tcp"))
    return out


def _firewall(raw, instance, errors):
    raw = raw or {}
    name = raw.get("name") or "%s-ports" % instance.get("name", "")
    if not vm_contract.NAME_RE.match(name):
        err(errors, "cos_deploy_firewall.name", name, "is not a valid firewall rule name",
            "give cos_deploy_firewall.name (1-63 lowercase letters, digits and hyphens; the default is "
            "INSTANCE-ports, which is too long for long instance names)")
    ranges = raw.get("source_ranges") or ["0.0.0.0/0"]
    return {
        "enabled": raw.get("enabled", True) is not False,
        "name": name,
        "network": instance.get("network") or "default",
        "source_ranges": list(ranges),
        "target_tag": raw.get("target_tag") or instance.get("name"),
    }


def _docker_daemon(raw, errors):
    """Settings of daemon.json that one of COS's own dockerd flags already sets: dockerd would not start."""
    for key in sorted(raw or {}):
        flag = vm_contract.COS_DOCKERD_FLAGS.get(key)
        if flag:
            err(errors, "cos_deploy_docker_daemon.%s" % key, raw[key],
                "is set by COS's dockerd flag %s, and dockerd refuses to start when a setting is given both as "
                "a flag and in daemon.json" % flag,
                "remove %s from cos_deploy_docker_daemon%s" % (
                    key, " (docker already pulls Docker Hub images through mirror.gcr.io)"
                    if key == "registry-mirrors" else ""))


def _toolbox(raw, errors):
    """/etc/default/toolbox (sourced by COS's toolbox as shell): only values that need no quoting."""
    if not raw:
        return None
    path = "cos_deploy_toolbox"
    lines = []
    image, tag = raw.get("image"), raw.get("tag")
    if image is not None:
        match = container_spec.IMAGE_RE.match(image) if isinstance(image, str) else None
        if not match or match.group("tag") or match.group("digest"):
            err(errors, path + ".image", image, "is not an image name without tag",
                "give the repository only, e.g. gcr.io/cos-cloud/toolbox, and the tag in cos_deploy_toolbox.tag")
        else:
            lines.append("TOOLBOX_DOCKER_IMAGE=%s" % image)
    if tag is not None:
        match = container_spec.IMAGE_RE.match("toolbox:" + tag) if isinstance(tag, str) else None
        if not match or match.group("tag") != tag:
            err(errors, path + ".tag", tag, "is not an image tag",
                "use letters, digits, _, . and - (up to 128), e.g. v20251002")
        else:
            lines.append("TOOLBOX_DOCKER_TAG=%s" % tag)
    binds = []
    for i, bind in enumerate(raw.get("binds") or []):
        parts = bind.split(":") if isinstance(bind, str) else [None]
        if not 1 <= len(parts) <= 2 or not all(p and TOOLBOX_PATH_RE.match(p) for p in parts) or ".." in bind:
            err(errors, "%s.binds[%d]" % (path, i), bind, "is not a bind of the form HOST_PATH[:TOOLBOX_PATH]",
                "give absolute paths, e.g. /var/lib/app:/app (the host root is at /media/root already)")
        else:
            binds.append(bind)
    if binds:
        lines.append('TOOLBOX_BIND="%s"' % " ".join("--bind=" + b for b in (*TOOLBOX_DEFAULT_BINDS, *binds)))
    return "".join(line + "\n" for line in ["# Written by the gce.cos.cos_deploy role at every boot.", *lines])


# Role option -> the COS metadata key it sets; booleans are written as true/false.
METADATA_OPTIONS = (
    ("startup_script", "cos_deploy_startup_script", "startup-script"),
    ("monitoring", "cos_deploy_monitoring", "google-monitoring-enabled"),
    ("logging_fluentbit", "cos_deploy_logging_fluentbit", "google-logging-use-fluentbit"),
    ("update_strategy", "cos_deploy_update_strategy", "cos-update-strategy"),
)


def _metadata(instance, options, errors):
    """The instance metadata: the given keys plus those the role's options set (never both)."""
    metadata = dict(instance.get("metadata") or {})
    for option, variable, key in METADATA_OPTIONS:
        value = (options or {}).get(option)
        if value is None or value == "":
            continue
        if key in metadata:
            err(errors, "cos_deploy_instance.metadata.%s" % key, metadata[key], "is set by %s too" % variable,
                "set it in one place: %s" % variable)
            continue
        metadata[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return metadata


# Where an option of a module comes from in the role's variables, for error messages.
INSTANCE_FIELDS = (
    ("boot_disk.size_gb", "cos_deploy_instance.boot_disk_size_gb"),
    ("network_tags", "cos_deploy_instance.tags"),
    ("service_account.email", "cos_deploy_instance.service_account"),
    ("service_account.scopes", "cos_deploy_instance.scopes"),
    ("disks", "cos_deploy_disks"),
    ("metadata", "cos_deploy_instance.metadata"),
    ("", "cos_deploy_instance."),
)


def _instance_args(instance, disks, tags, service_account, metadata):
    boot = instance.get("boot_disk_size_gb")
    return given({
        "name": instance.get("name"),
        "zone": instance.get("zone"),
        "machine_type": instance.get("machine_type") or None,
        "image_family": instance.get("image_family") or None,
        "image_project": instance.get("image_project") or None,
        "boot_disk": {"size_gb": boot} if boot is not None else None,
        "network": instance.get("network") or None,
        "subnetwork": instance.get("subnetwork") or None,
        "external_ip": instance.get("external_ip") or None,
        "network_tags": tags,
        # container-vm is the module's own label (the boot image's name, as gcloud sets it): a copy that comes
        # from the inventory (labels: "{{ gce_labels }}") is left out, so the VM keeps its own value.
        "labels": {k: v for k, v in (instance.get("labels") or {}).items()
                   if k != instance_options.IMAGE_LABEL} or None,
        "service_account": service_account or None,
        "metadata": metadata or None,
        "shielded_vm": instance.get("shielded_vm") or None,
        "disks": [{"name": d["name"], "device_name": d["device_name"]} for d in disks],
    })


def _disk_args(disk, zone):
    return given({"name": disk["name"], "zone": zone, "size_gb": disk.get("size_gb"), "type": disk.get("type"),
                  "labels": disk.get("labels") or None})


def _firewall_args(firewall, ports, instance_name):
    if not ports:
        return {"name": firewall["name"], "state": "absent", "network": firewall["network"]}
    return {"name": firewall["name"], "network": firewall["network"], "ports": ports,
            "source_ranges": firewall["source_ranges"], "target_tags": [firewall["target_tag"]],
            "description": "gce.cos: ports of the containers on %s" % instance_name}


def _check_modules(args, errors):
    """Every task the role will run, checked by its module's rules, all before the first API call."""
    module_errors(instance_options, instance_options.validate_instance_params, args["instance"], INSTANCE_FIELDS,
                  errors)
    for i, disk in enumerate(args["disks"]):
        module_errors(disk_options, disk_options.validate_disk_params, disk, (("", "cos_deploy_disks[%d]." % i),),
                      errors)
    if args["firewall"] is not None:
        where = (("ports", "cos_deploy_firewall.extra_ports"), ("target_tags", "cos_deploy_firewall.target_tag"),
                 ("", "cos_deploy_firewall."))
        module_errors(firewall_options, firewall_options.validate_firewall_params, args["firewall"], where, errors)


def plan(inputs):
    """The plan of the cos_deploy role for a mapping of its inputs (see the cos_deploy_plan filter)."""
    if not isinstance(inputs, dict):
        raise TypeError("expects a mapping of the role's inputs")
    errors, warnings = [], []
    unknown_variables(inputs.get("variables"), inputs.get("known_variables"), errors, ROLE_PREFIX)
    instance = inputs.get("instance") or {}
    disks, devices = _disks(inputs.get("disks"), errors)
    container_ports, images = _containers(inputs.get("containers"), devices, errors, warnings)
    google, logins = _registries(inputs.get("registries"), images, errors, warnings)
    firewall = _firewall(inputs.get("firewall"), instance, errors)
    # Not set: the VM's containers are left alone (and so is the firewall rule for their ports).
    containers_given = inputs.get("containers") is not None
    containers = inputs.get("containers") if isinstance(inputs.get("containers"), list) else []
    uses_secrets = bool(logins) or any(isinstance(c, dict) and c.get("secret_env") for c in containers)
    scopes = instance.get("scopes")
    if uses_secrets and not (scopes and {"cloud-platform", CLOUD_PLATFORM} & set(scopes)):
        warnings.append("secrets are read on the VM with its service account's token, which needs the cloud-platform "
                        "scope: set cos_deploy_instance.scopes to [cloud-platform] (and grant the service account "
                        "roles/secretmanager.secretAccessor on the secrets)")
    gcplogs = [c.get("name") for c in containers if isinstance(c, dict) and c.get("log_driver") == "gcplogs"]
    if gcplogs and scopes and not {"logging-write", "cloud-platform", LOGGING_WRITE, CLOUD_PLATFORM} & set(scopes):
        warnings.append("containers %s use the gcplogs log driver, but cos_deploy_instance.scopes has neither "
                        "logging-write nor cloud-platform: docker cannot write their logs and they will not "
                        "start; add logging-write to cos_deploy_instance.scopes" % ", ".join(gcplogs))
    service_account = {}
    if instance.get("service_account"):
        service_account["email"] = instance["service_account"]
    if scopes:
        service_account["scopes"] = list(scopes)
    tags = list(instance.get("tags") or [])
    if firewall["enabled"] and firewall["target_tag"] not in tags:
        tags.append(firewall["target_tag"])
    extra = _extra_ports((inputs.get("firewall") or {}).get("extra_ports"), errors)
    # Canonical container ports are "N/proto" already.
    ports = sorted(set(container_ports) | set("%d/%s" % p for p in extra), key=_port_key)
    metadata = _metadata(instance, inputs.get("metadata_options"), errors)
    toolbox = _toolbox(inputs.get("toolbox"), errors)
    _docker_daemon(inputs.get("docker_daemon"), errors)
    # The options of each module task, exactly as the role's tasks pass them.
    args = {
        "instance": _instance_args(instance, disks, tags, service_account, metadata),
        "disks": [_disk_args(d, instance.get("zone")) for d in disks],
        "firewall": (_firewall_args(firewall, ports, instance.get("name"))
                     if firewall["enabled"] and containers_given else None),
    }
    _check_modules(args, errors)
    return {
        "errors": errors,
        "warnings": warnings,
        "containers_given": containers_given,
        "disks": disks,
        "gcr_registries": google,
        "logins": logins,
        "ports": ports,
        "host_ports": [{"port": p, "proto": proto} for p, proto in sorted(extra)],
        "firewall": firewall,
        "toolbox": toolbox,
        "args": args,
    }
