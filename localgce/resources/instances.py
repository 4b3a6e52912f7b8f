"""instances: insert, get, list, aggregatedList, delete, start, stop, reset, update, setMetadata,
setLabels, setTags, setMachineType, setServiceAccount, setDeletionProtection, setScheduling,
updateShieldedInstanceConfig, addAccessConfig, deleteAccessConfig, attachDisk, detachDisk,
setDiskAutoDelete, getGuestAttributes, getSerialPortOutput.

Status life cycle: PROVISIONING -> STAGING -> RUNNING (insert, start) and STOPPING ->
TERMINATED (stop), driven by the operation; the VM backend is told at each step, and the
instance turns RUNNING once ``backend.ready()`` says its VM has started (as on Compute Engine,
before the guest OS has booted). ``reset`` is a hard reset of a RUNNING instance, accepted while
its guest still boots; the instance stays RUNNING and the backend boots it again with its current
disks and metadata.
"""

from __future__ import annotations

import ipaddress
import os

from .. import catalog, errors, util
from ..references import instance_path
from . import Collection, addresses, disks, handles, instance_templates
from .machine_types import machine_type_res
from .metadata_items import check_metadata, new_metadata

INSTANCES = Collection("instances", "instance", kind="compute#instance", scopes=("zones",))

DEFAULT_VM_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring.write",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/trace.append",
]


def serial_append(store, path, text):
    priv = store.priv(path)
    priv["serial"] = priv.get("serial", "") + text


# -- insert ----------------------------------------------------------------------------------
def _machine_type(project, zone, value, field):
    if not value:
        raise errors.required(field)
    path = util.ref_path(value, project, field, kind="machineTypes")
    parts = path.split("/")
    name = parts[-1]
    if len(parts) != 6 or parts[2] != "zones":
        raise errors.invalid_field(field, value, "Must be a URL to a valid Compute resource of the correct type.")
    if parts[3] != zone:
        raise errors.invalid_field(field, value, f"Machine type zone '{parts[3]}' does not match instance zone "
                                   f"'{zone}'.")
    if name not in catalog.MACHINE_TYPES and not catalog.custom_machine_type(name):
        raise errors.invalid_field(field, value, f"Machine type with name '{name}' does not exist in zone '{zone}'.")
    return util.link(f"projects/{project}/zones/{zone}/machineTypes/{name}")


def _alloc_ip(store, cidr):
    used = set()
    for coll, items in store.colls.items():
        if coll.endswith("/instances"):
            for inst in items.values():
                for nic in inst.get("networkInterfaces", []):
                    used.add(nic.get("networkIP"))
    net = ipaddress.ip_network(cidr)
    for host in list(net.hosts())[1:]:  # .1 is the gateway
        if str(host) not in used:
            return str(host)
    raise errors.ApiError(400, "IP_SPACE_EXHAUSTED", f"IP space of '{cidr}' is exhausted.")


def _external_ip():
    b = os.urandom(3)
    return f"34.{b[0] % 200 + 10}.{b[1]}.{b[2] % 250 + 2}"


def _access_config(store, project, region, ac, field, claims):
    """An access config as stored; a static natIP must be a reserved address (claimed via ``claims``)."""
    if ac.get("natIP"):
        claims.append(addresses.check_claimable(store, project, region, ac["natIP"], f"{field}.natIP"))
    return {
        "kind": "compute#accessConfig",
        "type": ac.get("type") or "ONE_TO_ONE_NAT",
        "name": ac.get("name") or "External NAT",
        "natIP": ac.get("natIP") or _external_ip(),
        "networkTier": ac.get("networkTier") or "PREMIUM",
    }


def _nics(store, project, zone, specs, claims):
    region = catalog.ZONES[zone]
    out = []
    for i, spec in enumerate(specs):
        field = f"resource.networkInterfaces[{i}]"
        net_path = sub_path = None
        if spec.get("network"):
            net_path = util.ref_path(spec["network"], project, f"{field}.network", kind="networks")
            store.must(net_path)
        if spec.get("subnetwork"):
            sub_path = util.ref_path(spec["subnetwork"], project, f"{field}.subnetwork", kind="subnetworks")
            sub = store.must(sub_path)
            if sub_path.split("/")[3] != region:
                raise errors.invalid_field(f"{field}.subnetwork", spec["subnetwork"],
                                           "Subnetwork must be in the instance's region.")
            if net_path is None:
                net_path = util.strip_url(sub["network"])
            elif util.link(net_path) != sub["network"]:
                raise errors.invalid_field(f"{field}.subnetwork", spec["subnetwork"],
                                           "Subnetwork does not belong to the network.")
        if net_path is None:
            net_path = f"projects/{project}/global/networks/default"
            store.must(net_path)
        if sub_path is None:
            net = store.get(net_path)
            cands = [s for s in net.get("subnetworks", []) if f"/regions/{region}/" in s]
            if not cands:
                raise errors.invalid_field(f"{field}.network", util.link(net_path),
                                           f"The network has no subnetwork in region '{region}'.")
            sub_path = util.strip_url(cands[0])
        sub = store.get(sub_path)
        nic = {
            "kind": "compute#networkInterface",
            "network": util.link(net_path),
            "subnetwork": util.link(sub_path),
            "networkIP": spec.get("networkIP") or _alloc_ip(store, sub["ipCidrRange"]),
            "name": f"nic{i}",
            "fingerprint": util.fingerprint(),
            "stackType": spec.get("stackType") or "IPV4_ONLY",
        }
        if spec.get("nicType"):
            nic["nicType"] = spec["nicType"]
        acs = []
        for j, ac in enumerate(spec.get("accessConfigs") or []):
            if j:
                raise errors.invalid(f"Invalid value for field '{field}.accessConfigs': ''. At most one access "
                                     "config currently supported.")
            acs.append(_access_config(store, project, region, ac, f"{field}.accessConfigs[{j}]", claims))
        if acs:
            nic["accessConfigs"] = acs
        out.append(nic)
    return out


def _service_accounts(store, project, specs):
    out = []
    for sa in specs or []:
        email = sa.get("email") or "default"
        if email == "default":
            email = store.ensure_project(project)["defaultServiceAccount"]
        out.append({"email": email, "scopes": list(sa.get("scopes") or [])})
    return out


def _attached(disk, spec, index, boot):
    ad = {
        "kind": "compute#attachedDisk",
        "type": spec.get("type") or "PERSISTENT",
        "mode": spec.get("mode") or "READ_WRITE",
        "source": disk["selfLink"],
        "deviceName": spec.get("deviceName") or f"persistent-disk-{index}",
        "index": index,
        "boot": boot,
        "autoDelete": bool(spec.get("autoDelete", False)),
        "interface": spec.get("interface") or "SCSI",
        "diskSizeGb": disk["sizeGb"],
    }
    for key in ("licenses", "guestOsFeatures", "architecture"):
        if disk.get(key):
            ad[key] = disk[key]
    return ad


def _check_attachable(store, disk_path, disk, mode):
    users = disk.get("users") or []
    if not users:
        return
    # A disk can be shared only when every attachment (existing and new) is READ_ONLY.
    if mode == "READ_WRITE" or _attached_mode(store, disk) == "READ_WRITE":
        raise errors.in_use(disk_path, util.strip_url(users[0]))


def _attached_mode(store, disk):
    for user in disk.get("users") or []:
        inst = store.get(util.strip_url(user))
        for ad in (inst or {}).get("disks", []):
            if ad.get("source") == disk["selfLink"] and ad.get("mode") == "READ_WRITE":
                return "READ_WRITE"
    return "READ_ONLY"


def _scheduling(spec, field):
    """A Scheduling as stored: the API's defaults filled in, and Spot/preemptible rules checked."""
    sched = dict(spec or {})
    spot = sched.get("provisioningModel") == "SPOT" or bool(sched.get("preemptible"))
    sched.setdefault("onHostMaintenance", "TERMINATE" if spot else "MIGRATE")
    sched.setdefault("automaticRestart", not spot)
    sched["preemptible"] = bool(sched.get("preemptible", False))
    sched.setdefault("provisioningModel", "SPOT" if spot else "STANDARD")
    if spot:
        kind = "SPOT" if sched["provisioningModel"] == "SPOT" else "preemptible"
        if sched["onHostMaintenance"] != "TERMINATE":
            raise errors.invalid_field(f"{field}.onHostMaintenance", sched["onHostMaintenance"],
                                       f"Instances with provisioning model {kind} must have onHostMaintenance "
                                       "set to TERMINATE.")
        if sched["automaticRestart"]:
            raise errors.invalid_field(f"{field}.automaticRestart", "true",
                                       f"Instances with provisioning model {kind} cannot be automatically "
                                       "restarted.")
    return sched


@handles("compute.instances.insert")
def insert(ctx):
    store, project, zone, body = ctx.store, ctx.project, ctx.params["zone"], ctx.body
    if ctx.query.get("sourceMachineImage"):
        raise errors.ApiError(501, "notImplemented", "localgce does not implement machine images yet")
    if ctx.query.get("sourceInstanceTemplate"):
        body = instance_templates.instance_body(store, project, zone, ctx.query["sourceInstanceTemplate"], body)
    name = body["name"]
    path = instance_path(project, zone, name)
    if store.get(path) is not None:
        raise errors.already_exists(path)
    mt = _machine_type(project, zone, body.get("machineType"), "resource.machineType")
    disk_specs = body.get("disks") or []
    if not disk_specs:
        raise errors.invalid("Invalid value for field 'resource.disks': ''. Boot disk must be specified.")
    if sum(1 for d in disk_specs if d.get("boot")) > 1:
        raise errors.invalid("Invalid value for field 'resource.disks': ''. Only one boot disk may be specified.")
    boot_index = next((i for i, d in enumerate(disk_specs) if d.get("boot")), 0)
    if boot_index != 0:
        raise errors.invalid("Invalid value for field 'resource.disks[0].boot': 'false'. The boot disk must be "
                             "the first disk.")
    warnings = []  # operation warnings (deprecated images)
    new_disks = []  # (path, record)
    attached = []  # (AttachedDisk, disk record)
    seen_devices = set()
    for i, spec in enumerate(disk_specs):
        field = f"resource.disks[{i}]"
        boot = i == 0
        if spec.get("source"):
            dpath = util.ref_path(spec["source"], project, f"{field}.source", kind="disks")
            disk = store.must(dpath)
            if dpath.split("/")[3] != zone:
                raise errors.invalid_field(f"{field}.source", spec["source"], "Disk must be in the instance's zone.")
            _check_attachable(store, dpath, disk, spec.get("mode") or "READ_WRITE")
        elif spec.get("initializeParams") is not None:
            ip = spec["initializeParams"]
            if boot and not (ip.get("sourceImage") or ip.get("sourceSnapshot")):
                raise errors.invalid(f"Invalid value for field '{field}.initializeParams.sourceImage': ''. "
                                     "Source image must be specified.")
            dname = ip.get("diskName") or (name if boot else f"{name}-{i}")
            util.check_name(f"{field}.initializeParams.diskName", dname)
            if any(p.endswith("/" + dname) for p, _ in new_disks):
                raise errors.already_exists(disks.disk_path(project, zone, dname))
            dpath, disk = disks.new_disk(store, project, zone, dname, ip, f"{field}.initializeParams", warnings)
            if ip.get("description"):
                disk["description"] = ip["description"]
            new_disks.append((dpath, disk))
        else:
            raise errors.invalid(f"Invalid value for field '{field}': ''. One of source or initializeParams must be "
                                 "specified.")
        ad = _attached(disk, spec, i, boot)
        if ad["deviceName"] in seen_devices:
            raise errors.invalid_field(f"{field}.deviceName", ad["deviceName"], "Device names must be unique.")
        seen_devices.add(ad["deviceName"])
        attached.append((ad, disk))
    claims = []  # static addresses named as natIP
    nics = _nics(store, project, zone, body.get("networkInterfaces") or [], claims)
    md_items = check_metadata((body.get("metadata") or {}).get("items") or [], "resource.metadata")
    labels = body.get("labels") or {}
    util.check_labels("resource.labels", labels)
    tags = list((body.get("tags") or {}).get("items") or [])
    sched = _scheduling(body.get("scheduling"), "resource.scheduling")
    shielded = {"enableSecureBoot": False, "enableVtpm": True, "enableIntegrityMonitoring": True}
    shielded.update(body.get("shieldedInstanceConfig") or {})
    family = util.last(mt).split("-")[0]
    inst = {
        "kind": "compute#instance",
        "id": util.new_id(),
        "creationTimestamp": util.now(),
        "name": name,
        "tags": {"fingerprint": util.fingerprint()},
        "machineType": mt,
        "status": "PROVISIONING",
        "zone": util.link(f"projects/{project}/zones/{zone}"),
        "canIpForward": bool(body.get("canIpForward", False)),
        "networkInterfaces": nics,
        "disks": [ad for ad, _ in attached],
        "metadata": {"kind": "compute#metadata", "fingerprint": util.fingerprint()},
        "serviceAccounts": _service_accounts(store, project, body.get("serviceAccounts")),
        "selfLink": util.link(path),
        "scheduling": sched,
        "cpuPlatform": catalog.CPU_PLATFORM.get(family, "Intel Broadwell"),
        "labelFingerprint": util.fingerprint(),
        "startRestricted": False,
        "deletionProtection": bool(body.get("deletionProtection", False)),
        "shieldedInstanceConfig": shielded,
        "shieldedInstanceIntegrityPolicy": {"updateAutoLearnPolicy": True},
        "fingerprint": util.fingerprint(),
        "lastStartTimestamp": "",
        "satisfiesPzi": False,
        "keyRevocationActionType": body.get("keyRevocationActionType") or "NONE",
    }
    del inst["lastStartTimestamp"]
    if not inst["serviceAccounts"]:
        del inst["serviceAccounts"]
    if tags:
        inst["tags"]["items"] = tags
    if md_items:
        inst["metadata"]["items"] = md_items
    if labels:
        inst["labels"] = dict(labels)
    for key in ("description", "hostname", "minCpuPlatform", "guestAccelerators", "confidentialInstanceConfig",
                "advancedMachineFeatures", "reservationAffinity", "displayDevice", "resourcePolicies", "params"):
        if body.get(key):
            inst[key] = body[key]
    if not nics:
        del inst["networkInterfaces"]

    def immediate():
        stamp = util.now()
        for dpath, disk in new_disks:
            store.put(dpath, disk)
        for _ad, disk in attached:
            disk["status"] = "READY"
            disk.setdefault("users", []).append(inst["selfLink"])
            disk["lastAttachTimestamp"] = stamp
        for addr in claims:
            addresses.claim(addr, inst["selfLink"])
        store.put(path, inst)

    def running():
        inst["status"] = "STAGING"
        serial_append(store, path, f"localgce: instance {name} booting\n")
        ctx.backend.boot(inst)

    return INSTANCES.op(ctx, "insert", inst, immediate=immediate, running=running, ready=_ready(ctx, path, inst),
                        warnings=warnings)


def _ready(ctx, path, inst):
    """The ready() callback: the instance turns RUNNING once the backend says its VM has started
    (the guest may still be booting, as on Compute Engine)."""

    def ready():
        if ctx.store.get(path) is not inst:
            return True  # deleted (or reset) meanwhile
        if inst["status"] == "RUNNING":
            return True
        if not ctx.backend.ready(inst):
            return False
        inst["status"] = "RUNNING"
        inst["lastStartTimestamp"] = util.now()
        serial_append(ctx.store, path, f"localgce: instance {inst['name']} is up\n")
        ctx.store.changed()
        return True

    return ready


# -- read ------------------------------------------------------------------------------------
get = handles("compute.instances.get")(INSTANCES.get)
list_ = handles("compute.instances.list")(INSTANCES.list_)
aggregated = handles("compute.instances.aggregatedList")(INSTANCES.aggregated)


# -- power -----------------------------------------------------------------------------------
def _detach_all(store, inst):
    stamp = util.now()
    for ad in inst.get("disks", []):
        dpath = util.strip_url(ad["source"])
        disk = store.get(dpath)
        if disk is None:
            continue
        users = [u for u in disk.get("users", []) if u != inst["selfLink"]]
        if users:
            disk["users"] = users
        else:
            disk.pop("users", None)
        disk["lastDetachTimestamp"] = stamp
        if ad.get("autoDelete"):
            store.delete(dpath)


def _release_addresses(store, project, inst):
    region = catalog.ZONES[util.last(inst["zone"])]
    for nic in inst.get("networkInterfaces", []):
        for ac in nic.get("accessConfigs", []):
            addresses.release(store, project, region, ac.get("natIP"), inst["selfLink"])


@handles("compute.instances.delete")
def delete(ctx):
    path, inst = INSTANCES.must(ctx)
    if inst.get("deletionProtection"):
        raise errors.ApiError(400, "invalidResourceUsage",
                              "Invalid resource usage: 'Resource cannot be deleted if it's protected against "
                              "deletion.'.")

    def running():
        if inst["status"] not in ("TERMINATED", "STOPPING"):
            inst["status"] = "STOPPING"
            ctx.backend.power_off(inst)

    def done():
        if ctx.store.get(path) is not inst:
            return
        ctx.backend.delete(inst)
        _detach_all(ctx.store, inst)
        _release_addresses(ctx.store, ctx.project, inst)
        ctx.store.delete(path)

    return INSTANCES.op(ctx, "delete", inst, running=running, done=done)


@handles("compute.instances.stop")
def stop(ctx):
    path, inst = INSTANCES.must(ctx)

    def running():
        if inst["status"] != "TERMINATED":
            inst["status"] = "STOPPING"
            ctx.backend.power_off(inst)

    def done():
        if inst["status"] != "TERMINATED":
            inst["status"] = "TERMINATED"
            inst["lastStopTimestamp"] = util.now()
            serial_append(ctx.store, path, f"localgce: instance {inst['name']} stopped\n")

    return INSTANCES.op(ctx, "stop", inst, running=running, done=done)


@handles("compute.instances.start")
def start(ctx):
    path, inst = INSTANCES.must(ctx)
    if inst["status"] in ("STOPPING", "SUSPENDING"):
        raise errors.ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")

    def running():
        if inst["status"] in ("TERMINATED", "SUSPENDED"):
            inst["status"] = "STAGING"
            serial_append(ctx.store, path, f"localgce: instance {inst['name']} booting\n")
            ctx.backend.boot(inst)

    return INSTANCES.op(ctx, "start", inst, running=running, ready=_ready(ctx, path, inst))


@handles("compute.instances.reset")
def reset(ctx):
    path, inst = INSTANCES.must(ctx)
    if inst["status"] != "RUNNING":
        raise errors.ApiError(400, "resourceNotReady", f"The resource '{path}' is not ready")

    def running():
        serial_append(ctx.store, path, f"localgce: instance {inst['name']} reset\n")
        ctx.backend.reset(inst)

    return INSTANCES.op(ctx, "reset", inst, running=running)


# -- setters ---------------------------------------------------------------------------------
def _touch(inst):
    inst["fingerprint"] = util.fingerprint()


def _update(ctx, op_type, inst, change):
    """The operation of a request that changes the instance: ``change()``, then a new fingerprint."""

    def done():
        change()
        _touch(inst)

    return INSTANCES.op(ctx, op_type, inst, done=done)


@handles("compute.instances.setMetadata")
def set_metadata(ctx):
    inst = INSTANCES.get(ctx)
    body = ctx.body
    if not util.same_fingerprint(body.get("fingerprint"), inst["metadata"].get("fingerprint")):
        raise errors.condition_not_met("Supplied fingerprint does not match current metadata fingerprint.")
    items = check_metadata(body.get("items") or [], "metadata")

    def change():
        inst["metadata"] = new_metadata(items)

    return _update(ctx, "setMetadata", inst, change)


@handles("compute.instances.setLabels")
def set_labels(ctx):
    inst = INSTANCES.get(ctx)
    labels = ctx.body.get("labels") or {}
    util.check_labels("labels", labels)
    disks.check_label_fingerprint(inst, ctx.body)

    def change():
        disks.apply_labels(inst, labels)

    return _update(ctx, "setLabels", inst, change)


@handles("compute.instances.setTags")
def set_tags(ctx):
    inst = INSTANCES.get(ctx)
    if not util.same_fingerprint(ctx.body.get("fingerprint"), inst["tags"].get("fingerprint")):
        raise errors.condition_not_met("Supplied fingerprint does not match current tags fingerprint.")
    items = list(ctx.body.get("items") or [])

    def change():
        inst["tags"] = {"fingerprint": util.fingerprint()}
        if items:
            inst["tags"]["items"] = items

    return _update(ctx, "setTags", inst, change)


def _require_terminated(inst, what):
    if inst["status"] != "TERMINATED":
        raise errors.ApiError(
            400, "resourceNotReady" if inst["status"] != "RUNNING" else "invalidResourceUsage",
            f"Invalid resource usage: 'Instance '{inst['name']}' must be stopped to change its {what}. "
            f"Current status: {inst['status']}.'.",
        )


@handles("compute.instances.setMachineType")
def set_machine_type(ctx):
    inst = INSTANCES.get(ctx)
    mt = _machine_type(ctx.project, ctx.params["zone"], ctx.body.get("machineType"), "machineType")
    _require_terminated(inst, "machine type")

    def change():
        inst["machineType"] = mt
        family = util.last(mt).split("-")[0]
        inst["cpuPlatform"] = catalog.CPU_PLATFORM.get(family, "Intel Broadwell")

    return _update(ctx, "setMachineType", inst, change)


@handles("compute.instances.setServiceAccount")
def set_service_account(ctx):
    inst = INSTANCES.get(ctx)
    _require_terminated(inst, "service account")
    body = ctx.body
    sas = [] if not body.get("email") and not body.get("scopes") else _service_accounts(ctx.store, ctx.project,
                                                                                         [body])

    def change():
        if sas:
            inst["serviceAccounts"] = sas
        else:
            inst.pop("serviceAccounts", None)

    return _update(ctx, "setServiceAccount", inst, change)


@handles("compute.instances.setDeletionProtection")
def set_deletion_protection(ctx):
    p = ctx.params
    path = instance_path(ctx.project, p["zone"], p["resource"])
    inst = ctx.store.must(path)
    value = ctx.query.get("deletionProtection", True)

    def done():
        inst["deletionProtection"] = bool(value)

    return INSTANCES.op(ctx, "setDeletionProtection", inst, done=done)


@handles("compute.instances.setScheduling")
def set_scheduling(ctx):
    """The new Scheduling replaces the old one (defaults filled in as at insert). Preemptibility never
    changes; the provisioning model changes only on a stopped (TERMINATED) instance; onHostMaintenance
    and automaticRestart of a standard VM change on a running one too."""
    inst = INSTANCES.get(ctx)
    current = inst.get("scheduling") or {}
    sched = _scheduling(ctx.body, "scheduling")
    if sched["preemptible"] != bool(current.get("preemptible", False)):
        raise errors.invalid_field("scheduling.preemptible", str(sched["preemptible"]).lower(),
                                   "The preemptibility of an existing instance cannot be changed.")
    if sched["provisioningModel"] != current.get("provisioningModel", "STANDARD"):
        _require_terminated(inst, "provisioning model")

    def change():
        inst["scheduling"] = sched

    return _update(ctx, "setScheduling", inst, change)


SHIELDED_FIELDS = ("enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring")


@handles("compute.instances.updateShieldedInstanceConfig")
def update_shielded_instance_config(ctx):
    """PATCH semantics: the given fields change, on a stopped (TERMINATED) instance only."""
    inst = INSTANCES.get(ctx)
    fields = {k: bool(ctx.body[k]) for k in SHIELDED_FIELDS if k in ctx.body}
    _require_terminated(inst, "Shielded VM config")

    def change():
        inst.setdefault("shieldedInstanceConfig", {}).update(fields)

    return _update(ctx, "updateShieldedInstanceConfig", inst, change)


def _nic(inst, name):
    nic = next((n for n in inst.get("networkInterfaces", []) if n.get("name") == name), None)
    if nic is None:
        raise errors.invalid_field("networkInterface", name, "No network interface with this name.")
    return nic


@handles("compute.instances.addAccessConfig")
def add_access_config(ctx):
    """One access config per interface; an ephemeral address, or a reserved static one (natIP)."""
    inst = INSTANCES.get(ctx)
    nic = _nic(inst, ctx.query["networkInterface"])
    if nic.get("accessConfigs"):
        raise errors.invalid("Invalid value for field 'resource': ''. At most one access config currently "
                             "supported.")
    if (ctx.body.get("type") or "ONE_TO_ONE_NAT") != "ONE_TO_ONE_NAT":
        raise errors.invalid_field("resource.type", ctx.body["type"], "Only ONE_TO_ONE_NAT is supported.")
    region = catalog.ZONES[ctx.params["zone"]]
    claims = []
    ac = _access_config(ctx.store, ctx.project, region, ctx.body, "resource", claims)

    def immediate():
        # Claim the static address at once, so that no other instance takes it meanwhile.
        for addr in claims:
            addresses.claim(addr, inst["selfLink"])

    def done():
        nic["accessConfigs"] = [ac]
        nic["fingerprint"] = util.fingerprint()
        _touch(inst)

    return INSTANCES.op(ctx, "addAccessConfig", inst, immediate=immediate, done=done)


@handles("compute.instances.deleteAccessConfig")
def delete_access_config(ctx):
    inst = INSTANCES.get(ctx)
    nic = _nic(inst, ctx.query["networkInterface"])
    name = ctx.query["accessConfig"]
    ac = next((a for a in nic.get("accessConfigs", []) if a.get("name") == name), None)
    if ac is None:
        raise errors.invalid_field("accessConfig", name, "No access config with this name on the network "
                                   "interface.")

    def change():
        if ac not in nic.get("accessConfigs", []):
            return
        nic["accessConfigs"].remove(ac)
        if not nic["accessConfigs"]:
            del nic["accessConfigs"]
        nic["fingerprint"] = util.fingerprint()
        addresses.release(ctx.store, ctx.project, catalog.ZONES[ctx.params["zone"]], ac.get("natIP"),
                          inst["selfLink"])

    return _update(ctx, "deleteAccessConfig", inst, change)


# instances.update (PUT): the whole resource with the instance fingerprint. localgce applies the
# fields below; a change of anything else it compares is refused, naming the method that makes it.
UPDATE_SETTERS = {
    "machineType": "setMachineType",
    "scheduling": "setScheduling",
    "shieldedInstanceConfig": "updateShieldedInstanceConfig",
    "serviceAccounts": "setServiceAccount",
    "networkInterfaces": "addAccessConfig/deleteAccessConfig",
    "disks": "attachDisk/detachDisk",
    "canIpForward": "a new instance",
}


def _comparable(key, value):
    if key == "machineType":
        return util.last(value)
    if key == "networkInterfaces":
        return [(util.last(n.get("network")), util.last(n.get("subnetwork")), n.get("networkIP"),
                 [(a.get("name"), a.get("natIP")) for a in n.get("accessConfigs") or []]) for n in value or []]
    if key == "disks":
        return [(util.strip_url(d.get("source", "")), d.get("deviceName")) for d in value or []]
    if key == "serviceAccounts":
        return [(a.get("email"), sorted(a.get("scopes") or [])) for a in value or []]
    if key == "scheduling":
        return {k: v for k, v in _scheduling(value, "resource.scheduling").items() if k in SCHEDULING_COMPARED}
    if key == "shieldedInstanceConfig":
        return {k: bool(v) for k, v in (value or {}).items() if k in SHIELDED_FIELDS}
    return bool(value)


SCHEDULING_COMPARED = ("preemptible", "provisioningModel", "onHostMaintenance", "automaticRestart")


@handles("compute.instances.update")
def update(ctx):
    inst = INSTANCES.get(ctx)
    body = ctx.body
    if not util.same_fingerprint(body.get("fingerprint"), inst.get("fingerprint")):
        raise errors.condition_not_met("Supplied fingerprint does not match current instance fingerprint.")
    if body.get("name") not in (None, inst["name"]):
        raise errors.invalid_field("resource.name", body["name"], "The name of an instance cannot be changed.")
    for key, method in UPDATE_SETTERS.items():
        if key in body and _comparable(key, body[key]) != _comparable(key, inst.get(key)):
            raise errors.ApiError(400, "invalid", f"Invalid value for field 'resource.{key}'. localgce's "
                                  f"instances.update does not change {key}: use {method}.")
    labels = body.get("labels") or {}
    util.check_labels("resource.labels", labels)
    items = check_metadata((body.get("metadata") or {}).get("items") or [], "resource.metadata")
    tags = list((body.get("tags") or {}).get("items") or [])

    def change():
        if body.get("description"):
            inst["description"] = body["description"]
        else:
            inst.pop("description", None)
        if labels != (inst.get("labels") or {}):
            disks.apply_labels(inst, labels)
        if items != (inst["metadata"].get("items") or []):
            inst["metadata"] = new_metadata(items)
        if tags != (inst["tags"].get("items") or []):
            inst["tags"] = {"fingerprint": util.fingerprint()}
            if tags:
                inst["tags"]["items"] = tags
        inst["deletionProtection"] = bool(body.get("deletionProtection", False))

    return _update(ctx, "update", inst, change)


# -- disks -----------------------------------------------------------------------------------
@handles("compute.instances.attachDisk")
def attach_disk(ctx):
    path, inst = INSTANCES.must(ctx)
    spec = ctx.body
    if not spec.get("source"):
        raise errors.required("resource.source")
    dpath = util.ref_path(spec["source"], ctx.project, "resource.source", kind="disks")
    disk = ctx.store.must(dpath)
    if dpath.split("/")[3] != ctx.params["zone"]:
        raise errors.invalid_field("resource.source", spec["source"], "Disk must be in the instance's zone.")
    if inst["selfLink"] in (disk.get("users") or []):
        raise errors.in_use(dpath, path)
    _check_attachable(ctx.store, dpath, disk, spec.get("mode") or "READ_WRITE")
    index = max((d["index"] for d in inst.get("disks", [])), default=-1) + 1
    ad = _attached(disk, spec, index, bool(spec.get("boot", False)))  # default name persistent-disk-N
    if any(d["deviceName"] == ad["deviceName"] for d in inst.get("disks", [])):
        raise errors.invalid_field("resource.deviceName", ad["deviceName"],
                                   "A disk with this device name is already attached.")

    def immediate():
        # Reserve the disk at once, so a concurrent attach elsewhere is refused.
        disk.setdefault("users", []).append(inst["selfLink"])

    def done():
        inst.setdefault("disks", []).append(ad)
        disk["lastAttachTimestamp"] = util.now()
        _touch(inst)
        hook = getattr(ctx.backend, "attach_disk", None)  # optional: hot-plug into a running guest
        if hook:
            hook(inst, ad)

    return INSTANCES.op(ctx, "attachDisk", inst, immediate=immediate, done=done)


def _attached_by_device(inst, device):
    """The instance's attached disk with that deviceName, or the API's 400 for a wrong name."""
    ad = next((d for d in inst.get("disks", []) if d["deviceName"] == device), None)
    if ad is None:
        raise errors.invalid(f"Invalid value for field 'deviceName': '{device}'. No attached disk found with "
                             "that device name.")
    return ad


@handles("compute.instances.detachDisk")
def detach_disk(ctx):
    inst = INSTANCES.get(ctx)
    ad = _attached_by_device(inst, ctx.query["deviceName"])
    if ad.get("boot") and inst["status"] != "TERMINATED":
        raise errors.ApiError(400, "invalidResourceUsage",
                              "Invalid resource usage: 'The boot disk can only be detached from a stopped "
                              "instance.'.")

    def change():
        if ad not in inst.get("disks", []):
            return
        inst["disks"].remove(ad)
        hook = getattr(ctx.backend, "detach_disk", None)  # optional: hot-unplug
        if hook:
            hook(inst, ad)
        disk = ctx.store.get(util.strip_url(ad["source"]))
        if disk is not None:
            users = [u for u in disk.get("users", []) if u != inst["selfLink"]]
            if users:
                disk["users"] = users
            else:
                disk.pop("users", None)
            disk["lastDetachTimestamp"] = util.now()

    return _update(ctx, "detachDisk", inst, change)


@handles("compute.instances.setDiskAutoDelete")
def set_disk_auto_delete(ctx):
    inst = INSTANCES.get(ctx)
    ad = _attached_by_device(inst, ctx.query["deviceName"])
    value = bool(ctx.query["autoDelete"])

    def change():
        ad["autoDelete"] = value

    return _update(ctx, "setDiskAutoDelete", inst, change)


# -- guest attributes and serial port ---------------------------------------------------------
def guest_attributes(store, path):
    """{namespace: {key: value}} of an instance (private data, shared with the metadata server)."""
    return store.priv(path).setdefault("guest", {})


@handles("compute.instances.getGuestAttributes")
def get_guest_attributes(ctx):
    path = INSTANCES.path(ctx)
    ctx.store.must(path)
    attrs = guest_attributes(ctx.store, path)
    out = {"kind": "compute#guestAttributes", "selfLink": util.link(path + "/getGuestAttributes")}
    key = ctx.query.get("variableKey")
    if key:
        ns, _, k = key.partition("/")
        if ns not in attrs or k not in attrs[ns]:
            raise errors.not_found(f"{path}/guestAttributes/{key}")
        out["variableKey"] = key
        out["variableValue"] = attrs[ns][k]
        return out
    qp = ctx.query.get("queryPath")
    if qp is None:
        raise errors.invalid("Invalid value for field 'queryPath': ''. One of queryPath or variableKey must be "
                             "specified.")
    ns, _, k = qp.partition("/")
    items = []
    for n in sorted(attrs):
        if ns and n != ns:
            continue
        for key_, value in sorted(attrs[n].items()):
            if k and key_ != k:
                continue
            items.append({"namespace": n, "key": key_, "value": value})
    if not items and (ns or k):
        raise errors.not_found(f"{path}/guestAttributes/{qp}")
    out["queryPath"] = qp
    out["queryValue"] = {"items": items} if items else {}
    return out


@handles("compute.instances.getSerialPortOutput")
def get_serial_port_output(ctx):
    path, inst = INSTANCES.must(ctx)
    port = ctx.query.get("port", 1)
    if not 1 <= int(port) <= 4:
        raise errors.invalid_field("port", port, "Must be between 1 and 4.")
    text = ctx.backend.serial_output(inst) if int(port) == 1 else ""
    if text is None:
        text = ctx.store.priv(path).get("serial", "")
    data = text.encode()
    start = int(ctx.query.get("start") or 0)
    if start < 0:
        start = max(0, len(data) + start)
    start = min(start, len(data))
    return {
        "kind": "compute#serialPortOutput",
        "contents": data[start:].decode(errors="replace"),
        "start": str(start),
        "next": str(len(data)),
        "selfLink": util.link(path + f"/serialPort?port={port}"),
    }


__all__ = ["guest_attributes", "machine_type_res"]
