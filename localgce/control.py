"""Control API under /_localgce/ (not recorded in the request log).

GET    /_localgce/requests[?mutating=true]   API request log: [{method, path, query, status, auth, id,
                                             mutating, time, body?}]
DELETE /_localgce/requests                   clear it
GET    /_localgce/guest-requests             metadata-server request log
POST   /_localgce/reset                      back to the seeded state (also clears log and faults)
GET|POST|DELETE /_localgce/faults            list / add / clear injected faults
GET|POST|DELETE /_localgce/guest-faults      metadata-server faults for one VM: {"instance", "status",
                                             "method"?, "path"? (regex below computeMetadata/v1/),
                                             "count"? (-1: until cleared)}; GET shows each one's hits
POST   /_localgce/secrets                    {"project", "secret", "data"} -> {"version", "name"}
POST   /_localgce/snapshots                  {"project", "name", "diskSizeGb"?, "sourceDisk"?} -> snapshot
PUT    /_localgce/guest-attributes           {"project", "zone", "instance", "namespace", "key", "value"}
                                             (value null deletes); server-side, outside the guest budget
GET|POST /_localgce/guest-budget             the guest-attribute query budget (10/min, 3/s per VM) and per-VM
                                             counters {P/Z/NAME: {id, queries, writes, drops, over}}; POST
                                             {"per_minute"?, "per_second"?, "enforce"?} changes it until reset
POST   /_localgce/instance-status            {"project", "zone", "instance", "status"}: force a status
                                             (e.g. TERMINATED to simulate a crash)
POST   /_localgce/instance-health        {"project", "zone", "instance", "health": STATE|null}: a managed
                                             instance's detailedHealthState (HEALTHY, UNHEALTHY, TIMEOUT,
                                             UNKNOWN, DRAINING); it overrides real probes (VM mode) until
                                             cleared with null or the instance is recreated
POST   /_localgce/serial                     {"project", "zone", "instance", "text"}: append serial output
POST   /_localgce/config                     {"operation_delay": S, "require_auth": bool, "wait_timeout": S}
GET    /_localgce/health                     {"ok": true}
GET    /_localgce/state                      every resource (debugging)
GET    /_localgce/vms                        the VM simulator: {enabled, reason?, registries, instances:
                                             {P/Z/NAME: {ports: {vm_port: host_port}, urls, shell, boot_id, ...}}}
"""

from __future__ import annotations

import json

from . import errors, guest_metadata, references, secrets
from .resources import instance_group_managers, instances
from .resources.snapshots import make_snapshot
from .responses import json_response


def _resp(status, obj):
    return json_response(status, obj)


def _need(body, *keys):
    missing = [k for k in keys if k not in body]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")


def handle(app, method, path, query, body):
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return _resp(400, {"error": "body must be JSON"})
    route = path[len("/_localgce/"):].rstrip("/")
    try:
        return _route(app, method, route, query, data)
    except ValueError as exc:
        return _resp(400, {"error": str(exc)})
    except errors.ApiError as exc:
        return _resp(exc.status, exc.body())


def _route(app, method, route, query, data):
    store = app.store
    if route == "health" and method == "GET":
        return _resp(200, {"ok": True})
    if route == "requests":
        if method == "GET":
            mut = query.get("mutating", ["false"])[-1].lower() in ("1", "true")
            return _resp(200, app.requests(mutating_only=mut))
        if method == "DELETE":
            app.clear_requests()
            return _resp(200, {})
    if route == "guest-requests" and method == "GET":
        with app.log_lock:
            return _resp(200, list(app.guest_log))
    if route == "reset" and method == "POST":
        app.reset()
        return _resp(200, {})
    if route in ("faults", "guest-faults"):
        faults = app.faults if route == "faults" else app.guest_faults
        if method == "GET":
            return _resp(200, faults.list())
        if method == "POST":
            return _resp(200, faults.add(data))
        if method == "DELETE":
            faults.clear()
            return _resp(200, {})
    if route == "guest-budget":
        if method == "GET":
            return _resp(200, app.guest_budget.describe())
        if method == "POST":
            app.guest_budget.configure(data)
            return _resp(200, app.guest_budget.describe())
    if route == "secrets" and method == "POST":
        _need(data, "project", "secret", "data")
        version = secrets.add_version(store, data["project"], data["secret"], data["data"])
        num = store.project_number(data["project"])
        return _resp(200, {"version": version,
                           "name": f"projects/{num}/secrets/{data['secret']}/versions/{version}"})
    if route == "snapshots" and method == "POST":
        _need(data, "project", "name")
        with store.lock:
            store.ensure_project(data["project"])
            snap_path, snap = make_snapshot(store, data["project"], data)
            snap["status"] = "READY"
            store.put(snap_path, snap)
        return _resp(200, snap)
    if route == "guest-attributes" and method == "PUT":
        _need(data, "project", "zone", "instance", "namespace", "key", "value")
        guest_metadata.set_guest_attribute(store, data["project"], data["zone"], data["instance"],
                                           data["namespace"], data["key"], data["value"])
        return _resp(200, {})
    if route == "instance-status" and method == "POST":
        _need(data, "project", "zone", "instance", "status")
        with store.lock:
            inst = store.must(references.instance_path(data["project"], data["zone"], data["instance"]))
            inst["status"] = data["status"]
            store.changed()
            return _resp(200, inst)
    if route == "instance-health" and method == "POST":
        _need(data, "project", "zone", "instance", "health")
        if data["health"] is not None and data["health"] not in instance_group_managers.HEALTH_STATES:
            raise ValueError("health must be one of %s, or null to clear it"
                             % ", ".join(instance_group_managers.HEALTH_STATES))
        with store.lock:
            instance_group_managers.set_health(store, data["project"], data["zone"], data["instance"],
                                               data["health"])
        return _resp(200, {})
    if route == "serial" and method == "POST":
        _need(data, "project", "zone", "instance", "text")
        with store.lock:
            path = references.instance_path(data["project"], data["zone"], data["instance"])
            store.must(path)
            instances.serial_append(store, path, data["text"])
        return _resp(200, {})
    if route == "config" and method == "POST":
        if "operation_delay" in data:
            app.ops.delay = float(data["operation_delay"])
        if "require_auth" in data:
            app.require_auth = bool(data["require_auth"])
        if "wait_timeout" in data:
            app.wait_timeout = float(data["wait_timeout"])
        return _resp(200, {"operation_delay": app.ops.delay, "require_auth": app.require_auth,
                           "wait_timeout": app.wait_timeout})
    if route == "vms" and method == "GET":
        if app.vms is None:
            return _resp(200, {"enabled": False, "reason": app.vms_reason, "instances": {}, "registries": {}})
        return _resp(200, app.vms.describe())
    if route == "state" and method == "GET":
        with store.lock:
            return _resp(200, store.to_json())
    return _resp(404, {"error": f"no control endpoint {method} /_localgce/{route}"})
