"""The GCE metadata server as seen from inside one instance.

Served under /_localgce/guest/PROJECT/ZONE/INSTANCE/computeMetadata/v1/ (the VM simulator
forwards http://metadata.google.internal/ there). Behaviour follows the real server:

- requests need ``Metadata-Flavor: Google`` (403 otherwise); answers carry it and an ETag;
- directories list their entries one per line (sub-directories end with '/');
  ``?recursive=true`` returns the subtree as JSON (camelCase keys, like GCE);
- ``?wait_for_change=true[&last_etag=E][&timeout_sec=N]`` returns at once when the current
  ETag differs from E, otherwise blocks (on the store's condition, no polling) until the
  content changes or N seconds pass, then returns the (possibly unchanged) content;
- guest attributes: PUT/GET/DELETE instance/guest-attributes/NAMESPACE/KEY, allowed only
  when metadata ``enable-guest-attributes`` is TRUE (instance first, then project);
- guest-attribute queries are budgeted per VM as Compute Engine documents them: at most 10 a
  minute, in bursts of at most 3 a second (``GuestBudget``). A write beyond the budget is
  answered 200 like any other, and the attribute it was writing is removed (Compute Engine
  "might arbitrarily remove guest attributes that are in the process of being written").
"""

from __future__ import annotations

import collections
import hashlib
import ipaddress
import json
import re
import threading
import time

from . import util
from .faults import Faults
from .references import instance_path
from .resources.instances import guest_attributes
from .responses import Response

PREFIX = "/_localgce/guest/"
DEFAULT_WAIT = 300.0
MAX_GA_VALUE = 256 * 1024
_GA_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


class Raw(dict):
    """A directory whose keys are user data (metadata keys): not camelCased in JSON."""


def _camel(name):
    head, *rest = name.split("-")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _to_json(node, raw=False):
    if isinstance(node, dict):
        is_raw = isinstance(node, Raw)
        return {(k if (raw or is_raw) else _camel(k)): _to_json(v, is_raw) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_json(v) for v in node]
    return node


def _attrs(md):
    return Raw({i["key"]: i.get("value", "") for i in (md or {}).get("items", [])})


def _ga_enabled(inst, project_md):
    for md in (inst.get("metadata"), project_md):
        for item in (md or {}).get("items", []):
            if item["key"] == "enable-guest-attributes":
                return item.get("value", "").strip().lower() == "true"
    return False


def build_tree(store, project, zone, inst):
    proj = store.ensure_project(project)
    num = proj["id"]
    nics = []
    for nic in inst.get("networkInterfaces", []):
        sub = store.get(util.strip_url(nic["subnetwork"])) or {}
        cidr = sub.get("ipCidrRange", "10.128.0.0/20")
        net = ipaddress.ip_network(cidr)
        ip = nic.get("networkIP", "")
        mac = "42:01:" + ":".join(f"{int(o):02x}" for o in ip.split(".")) if ip else "42:01:0a:80:00:02"
        nics.append({
            "access-configs": [{"external-ip": ac.get("natIP", ""), "type": ac.get("type", "ONE_TO_ONE_NAT")}
                               for ac in nic.get("accessConfigs", [])],
            "dns-servers": ["169.254.169.254"],
            "forwarded-ips": [],
            "gateway": sub.get("gatewayAddress", str(next(net.hosts()))),
            "ip": ip,
            "ip-aliases": [],
            "mac": mac,
            "mtu": 1460,
            "network": f"projects/{num}/networks/{util.last(nic['network'])}",
            "subnetmask": str(net.netmask),
            "target-instance-ips": [],
        })
    sas = {}
    for sa in inst.get("serviceAccounts", []):
        entry = {"aliases": ["default"], "email": sa["email"], "scopes": list(sa.get("scopes", []))}
        if not sas:
            sas["default"] = entry
        sas[sa["email"]] = {**entry, "aliases": []}
    boot = next((d for d in inst.get("disks", []) if d.get("boot")), None)
    image = ""
    if boot:
        disk = store.get(util.strip_url(boot["source"])) or {}
        image = util.strip_url(disk.get("sourceImage", ""))
    sched = inst.get("scheduling", {})
    ga = guest_attributes(store, instance_path(project, zone, inst["name"]))
    return {
        "instance": {
            "attributes": _attrs(inst.get("metadata")),
            "cpu-platform": inst.get("cpuPlatform", ""),
            "description": inst.get("description", ""),
            "disks": [{"device-name": d["deviceName"], "index": d["index"], "interface": d.get("interface", "SCSI"),
                       "mode": d.get("mode", "READ_WRITE"), "type": d.get("type", "PERSISTENT")}
                      for d in inst.get("disks", [])],
            "guest-attributes": {ns: Raw(v) for ns, v in ga.items()},
            "hostname": inst.get("hostname") or f"{inst['name']}.{zone}.c.{project}.internal",
            "id": int(inst["id"]),
            "image": image,
            "machine-type": f"projects/{num}/machineTypes/{util.last(inst['machineType'])}",
            "maintenance-event": "NONE",
            "name": inst["name"],
            "network-interfaces": nics,
            "preempted": "FALSE",
            "scheduling": {
                "automatic-restart": "TRUE" if sched.get("automaticRestart", True) else "FALSE",
                "on-host-maintenance": sched.get("onHostMaintenance", "MIGRATE"),
                "preemptible": "TRUE" if sched.get("preemptible") else "FALSE",
            },
            "service-accounts": sas,
            "tags": list(inst.get("tags", {}).get("items", [])),
            "zone": f"projects/{num}/zones/{zone}",
        },
        "project": {
            "attributes": _attrs(proj.get("commonInstanceMetadata")),
            "numeric-project-id": int(num),
            "project-id": project,
        },
    }


def _lookup(tree, parts):
    node = tree
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None, False
    return node, True


def _etag(node):
    data = json.dumps(_to_json(node), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def _is_dir(node):
    # Lists of scalars (tags, scopes) are leaves on GCE; lists of objects are directories.
    return isinstance(node, dict) or (isinstance(node, list) and any(isinstance(v, (dict, list)) for v in node))


def _render(node, query, name=""):
    alt = query.get("alt", [""])[-1]
    recursive = query.get("recursive", ["false"])[-1].lower() == "true"
    if isinstance(node, list) and not _is_dir(node):
        if alt == "json" or name == "tags":
            return json.dumps(node).encode(), "application/json"
        return "".join(f"{v}\n" for v in node).encode(), "application/text"
    if isinstance(node, (dict, list)):
        if recursive:
            if alt == "text" and isinstance(node, dict):
                lines = [f"{k} {v}" for k, v in node.items() if not isinstance(v, (dict, list))]
                return ("\n".join(lines) + ("\n" if lines else "")).encode(), "application/text"
            return json.dumps(_to_json(node, isinstance(node, Raw)), separators=(",", ":")).encode(), \
                "application/json"
        if isinstance(node, list):
            names = [f"{i}/" if _is_dir(v) else str(i) for i, v in enumerate(node)]
        else:
            names = [f"{k}/" if _is_dir(v) else k for k, v in node.items()]
        if alt == "json":
            return json.dumps(names).encode(), "application/json"
        return ("\n".join(names) + ("\n" if names else "")).encode(), "application/text"
    if alt == "json":
        return json.dumps(node).encode(), "application/json"
    return str(node).encode(), "application/text"


def _answer(status, body, ctype="application/text", etag=None):
    if isinstance(body, str):
        body = body.encode()
    headers = {"Metadata-Flavor": "Google", "Content-Type": ctype, "Server": "Metadata Server for VM",
               "ETag": etag or hashlib.sha256(body).hexdigest()[:16]}
    return Response(status, body, headers)


class GuestBudget:
    """Compute Engine's guest-attribute query budget, per VM (instance id): at most
    ``per_minute`` queries in any 60 s and ``per_second`` in any 1 s (sliding windows).

    Every guest-attribute request of the guest counts as a query: writes (PUT), deletions
    and reads (GET of a key, a listing or the recursive document), whether it is within the
    budget or not, so a guest that keeps retrying stays over it. Over the budget, a PUT
    removes the attribute it writes (neither the old nor the new value stays) and a DELETE
    is not done (the stale attribute stays); both are answered 200 and counted as drops.
    Over-budget reads are answered and counted as ``over``. ``GET /_localgce/guest-budget``
    shows the counters; the guest request log marks each query ``budget: ok|dropped|over``.
    """

    PER_MINUTE = 10
    PER_SECOND = 3

    def __init__(self, clock=time.monotonic):
        self.lock = threading.Lock()
        self.clock = clock
        self.per_minute = self.PER_MINUTE
        self.per_second = self.PER_SECOND
        self.enforce = True
        self.windows = {}  # instance id -> deque of query times (monotonic)
        self.counts = {}  # "project/zone/name" -> {id, queries, writes, drops, over}

    def take(self, instance_id, label, write):
        """Count one query; return "ok", or "dropped" (a write over the budget) / "over" (a read)."""
        with self.lock:
            now = self.clock()
            window = self.windows.setdefault(instance_id, collections.deque())
            while window and window[0] <= now - 60.0:
                window.popleft()
            last_second = sum(1 for t in window if t > now - 1.0)
            over = self.enforce and (len(window) >= self.per_minute or last_second >= self.per_second)
            window.append(now)
            count = self.counts.get(label)
            if count is None or count["id"] != instance_id:
                count = self.counts[label] = {"id": instance_id, "queries": 0, "writes": 0, "drops": 0, "over": 0}
            count["queries"] += 1
            if write:
                count["writes"] += 1
            if not over:
                return "ok"
            if write:
                count["drops"] += 1
                return "dropped"
            count["over"] += 1
            return "over"

    def describe(self):
        with self.lock:
            return {"per_minute": self.per_minute, "per_second": self.per_second, "enforce": self.enforce,
                    "instances": {k: dict(v) for k, v in self.counts.items()}}

    def configure(self, data):
        with self.lock:
            if "per_minute" in data:
                self.per_minute = int(data["per_minute"])
            if "per_second" in data:
                self.per_second = int(data["per_second"])
            if "enforce" in data:
                self.enforce = bool(data["enforce"])

    def clear(self):
        with self.lock:
            self.windows.clear()
            self.counts.clear()
            self.per_minute, self.per_second, self.enforce = self.PER_MINUTE, self.PER_SECOND, True


def _guest_fault(spec):
    if "instance" not in spec or "status" not in spec:
        raise ValueError("a guest fault needs instance and status")
    spec["status"] = int(spec["status"])


def guest_faults():
    """Injected metadata-server faults (control API /_localgce/guest-faults): each answers the
    requests of one instance whose method and path (below computeMetadata/v1/) match with
    ``status``, ``count`` times (-1, the default: until cleared)."""
    return Faults(_guest_fault, default_count=-1, until_cleared=True)


def handle(app, method, path, query, headers, body):
    fault = _injected_fault(app, method, path)
    if fault:
        resp = _answer(fault["status"], "Injected fault\n", "text/html")
    else:
        resp = _handle(app, method, path, query, headers, body)
    entry = {"method": method, "path": path, "query": {k: v[-1] for k, v in query.items()},
             "status": resp.status, "time": time.time()}
    verdict = resp.budget
    if verdict:
        entry["budget"] = verdict
    with app.log_lock:
        app.guest_log.append(entry)
    return resp


def _injected_fault(app, method, path):
    faults = getattr(app, "guest_faults", None)
    parts = path[len(PREFIX):].split("/", 5)
    if faults is None or len(parts) < 5:
        return None
    return faults.take(method, parts[5] if len(parts) > 5 else "", lambda f: f["instance"] == parts[2])


def _handle(app, method, path, query, headers, body):
    flavor = headers.get("Metadata-Flavor") or headers.get("metadata-flavor")
    if flavor != "Google":
        return _answer(403, "Missing required header \"Metadata-Flavor\": \"Google\"\n", "text/html")
    if headers.get("X-Forwarded-For"):
        return _answer(403, "Request has X-Forwarded-For header; access denied.\n", "text/html")
    rest = path[len(PREFIX):]
    parts = rest.split("/")
    if len(parts) < 5 or parts[3] != "computeMetadata" or parts[4] != "v1":
        return _answer(404, "Not Found\n", "text/html")
    project, zone, name = parts[:3]
    sub = [p for p in parts[5:]]
    is_dir = not sub or sub[-1] == ""
    sub = [p for p in sub if p]
    store = app.store
    ipath = instance_path(project, zone, name)
    with store.lock:
        inst = store.get(ipath)
        if inst is None:
            return _answer(404, f"Instance {ipath} not found\n", "text/html")
        # Service-account tokens are generated on each request, never part of the tree.
        if len(sub) == 4 and sub[:2] == ["instance", "service-accounts"] and sub[3] in ("token", "identity"):
            return _token(app, inst, sub[2], sub[3], query)
        if len(sub) >= 2 and sub[:2] == ["instance", "guest-attributes"] and method in ("PUT", "DELETE", "GET"):
            resp, verdict = _guest_attributes(app, store, project, zone, inst, sub[2:], method, body)
            if resp is None:  # a read: served from the tree (listing, recursive JSON, long-poll)
                resp = _read(app, store, project, zone, name, ipath, sub, is_dir, query)
            resp.budget = verdict
            return resp
        if method not in ("GET", "HEAD"):
            return _answer(405, "Method Not Allowed\n", "text/html")
        return _read(app, store, project, zone, name, ipath, sub, is_dir, query)


def _read(app, store, project, zone, name, ipath, sub, is_dir, query):
    def current():
        inst = store.get(ipath)
        if inst is None:
            return None, False
        return _lookup(build_tree(store, project, zone, inst), sub)

    node, found = current()
    if not found:
        return _answer(404, "Not Found\n", "text/html")
    recursive = query.get("recursive", ["false"])[-1].lower() == "true"
    if _is_dir(node) and not is_dir and not recursive:
        # Like GCE: a directory without its trailing slash is a redirect, not a listing.
        qs = "&".join(f"{k}={v[-1]}" for k, v in query.items())
        location = app.guest_url(project, zone, name) + "/".join(sub) + "/" + (f"?{qs}" if qs else "")
        resp = _answer(301, f'<a href="{location}">Moved Permanently</a>.\n', "text/html")
        resp.headers["Location"] = location
        return resp
    etag = _etag(node)
    if query.get("wait_for_change", ["false"])[-1].lower() == "true":
        last = query.get("last_etag", [None])[-1]
        try:
            timeout = float(query.get("timeout_sec", [DEFAULT_WAIT])[-1])
        except ValueError:
            return _answer(400, "Invalid timeout_sec\n", "text/html")
        if last is None or last == etag:
            # Block until the content differs from what the caller has (or the timeout).
            base = last or etag
            deadline = time.monotonic() + max(0.0, timeout)
            while not app.stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                store.cond.wait(remaining)
                node, found = current()
                if not found:
                    return _answer(404, "Not Found\n", "text/html")
                etag = _etag(node)
                if etag != base:
                    break
    data, ctype = _render(node, query, sub[-1] if sub else "")
    return _answer(200, data, ctype, etag)


def _token(app, inst, account, what, query):
    sas = inst.get("serviceAccounts", [])
    default = sas[0] if sas else None
    sa = default if account == "default" else next((s for s in sas if s["email"] == account), None)
    if sa is None:
        return _answer(404, "Not Found\n", "text/html")
    if what == "identity":
        aud = query.get("audience", [""])[-1]
        if not aud:
            return _answer(400, "non-empty audience parameter required\n", "text/html")
        from .token import fake_id_token

        return _answer(200, fake_id_token(sa["email"], aud), "text/html")
    # Issued for the instance's scopes, as GCE does; /tokeninfo tells them back.
    tok = app.issued_tokens.issue(sa["email"], sa.get("scopes", []))
    return _answer(200, json.dumps(tok), "application/json")


def _guest_attributes(app, store, project, zone, inst, rest, method, body):
    """PUT/DELETE/GET on guest attributes, counted against the VM's budget -> (response, verdict);
    the response is None for a GET (served from the tree by the caller)."""
    if not _ga_enabled(inst, store.ensure_project(project).get("commonInstanceMetadata")):
        return _answer(403, "Guest attributes endpoint access is disabled.\n", "text/html"), None
    budget = getattr(app, "guest_budget", None)
    verdict = budget.take(inst["id"], f"{project}/{zone}/{inst['name']}", method != "GET") if budget else None
    if method == "GET":
        return None, verdict
    return _write_guest_attribute(store, project, zone, inst, rest, method, body, verdict), verdict


def _write_guest_attribute(store, project, zone, inst, rest, method, body, verdict):
    if len(rest) != 2 or not all(_GA_NAME.fullmatch(p) for p in rest):
        return _answer(400, "Guest attribute path must be NAMESPACE/KEY\n", "text/html")
    ns, key = rest
    attrs = guest_attributes(store, instance_path(project, zone, inst["name"]))
    if method == "PUT":
        if len(body) > MAX_GA_VALUE:
            return _answer(400, "Guest attribute value too large\n", "text/html")
        if verdict == "dropped":
            # Removed while being written: the reader sees neither the old nor the new value.
            if key in attrs.get(ns, {}):
                del attrs[ns][key]
                if not attrs[ns]:
                    del attrs[ns]
                store.changed()
            return _answer(200, "")
        attrs.setdefault(ns, {})[key] = body.decode("utf-8", errors="replace")
        store.changed()
        return _answer(200, "")
    if ns not in attrs or key not in attrs[ns]:
        return _answer(404, "Not Found\n", "text/html")
    if verdict == "dropped":
        return _answer(200, "")  # answered as done, not done: the stale attribute stays
    del attrs[ns][key]
    if not attrs[ns]:
        del attrs[ns]
    store.changed()
    return _answer(200, "")


def set_guest_attribute(store, project, zone, instance, namespace, key, value):
    """Server-side write (control API and tests); None deletes."""
    path = instance_path(project, zone, instance)
    with store.lock:
        store.must(path)
        attrs = guest_attributes(store, path)
        if value is None:
            attrs.get(namespace, {}).pop(key, None)
            if namespace in attrs and not attrs[namespace]:
                del attrs[namespace]
        else:
            attrs.setdefault(namespace, {})[key] = value
        store.changed()
