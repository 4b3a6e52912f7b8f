"""The localgce application (transport independent) and its HTTP server.

URL space on one port (docs/dev/internals.md):
  /compute/v1/...                                    Compute API
  /token                                             OAuth2 token endpoint
  /tokeninfo                                         what a token was issued for (scopes, account)
  /v1/projects/P/secrets/S/versions/V:access         Secret Manager (minimal)
  /_localgce/guest/PROJECT/ZONE/INSTANCE/computeMetadata/v1/...   guest metadata server
  /_localgce/...                                     control API
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import backend as backend_mod
from . import batch, catalog, control, discovery, errors, guest_metadata, resources, secrets, token, util
from .context import Ctx
from .faults import Faults
from .operations import Operations
from .responses import error_response, json_response
from .store import Store

# POSTs that change nothing: operation waits, permission checks, token exchanges and lookups.
LOG_LIMIT = 50000
NON_MUTATING_POST = re.compile(
    r"(/operations/[^/]+/wait|/testIamPermissions|/listManagedInstances|/listErrors|^/token|^/tokeninfo)$")


def _api_fault(spec):
    if not any(k in spec for k in ("status", "operation_error", "delay")):
        raise ValueError("a fault needs one of: status, operation_error, delay")


class App:
    def __init__(self, *, projects=(), operation_delay=0.0, state_file=None, require_auth=False,
                 backend=None, wait_timeout=120.0):
        resources.load()
        self.store = Store(projects)
        self.state_file = state_file
        if state_file and os.path.exists(state_file):
            self.store.load(state_file)
        self.ops = Operations(self.store, operation_delay)
        self.backend = backend or backend_mod.NullBackend()
        self.require_auth = require_auth
        self.wait_timeout = wait_timeout
        # Compute API faults: each answers once unless its count says more.
        self.faults = Faults(_api_fault, default_count=1, until_cleared=False)
        self.guest_faults = guest_metadata.guest_faults()
        self.guest_budget = guest_metadata.GuestBudget()
        self.log_lock = threading.Lock()
        # Bumped when the log is cleared: a request that arrived before (a long-held operation
        # wait, say) is not logged after, so a test's log holds only its own requests.
        self.log_epoch = 0
        # Bounded, so a long demo cannot grow them without limit.
        self.log = collections.deque(maxlen=LOG_LIMIT)
        self.guest_log = collections.deque(maxlen=LOG_LIMIT)
        self.issued_tokens = token.IssuedTokens()
        self.stopping = False
        self.base_url = None  # set by the HTTP server
        self.vms = None  # localgce.vm.service.VmService when instances boot real VMs
        self.health_prober = None  # health_probes.Prober, started by the first autohealed group (VM mode)
        self.vms_reason = "VMs disabled (API only)"  # why not, for GET /_localgce/vms
        self._closed = threading.Event()
        # Load the discovery document (~0.1 s) in the background, so start-up stays fast
        # and the first API request usually finds it ready.
        threading.Thread(target=discovery.get, name="localgce-discovery", daemon=True).start()
        if state_file:
            # Besides the save at shutdown, save changes every second, so that a killed
            # server loses at most a second of work.
            threading.Thread(target=self._autosave, name="localgce-autosave", daemon=True).start()

    def _autosave(self):
        while not self._closed.wait(1.0):
            if self.store.dirty:
                try:
                    self.store.save(self.state_file)
                except OSError as exc:
                    print(f"localgce: cannot save state to {self.state_file}: {exc}", flush=True)

    # -- helpers for handlers and tests --------------------------------------------------
    @property
    def discovery(self):
        return discovery.get()

    def guest_url(self, project, zone, instance):
        return f"{self.base_url}/_localgce/guest/{project}/{zone}/{instance}/computeMetadata/v1/"

    def reset(self):
        self.ops.clear()
        self.store.reset()
        self.faults.clear()
        self.guest_faults.clear()
        self.guest_budget.clear()
        self.clear_requests()

    def clear_requests(self):
        with self.log_lock:
            self.log.clear()
            self.guest_log.clear()
            self.log_epoch += 1

    def requests(self, mutating_only=False):
        with self.log_lock:
            entries = list(self.log)
        if mutating_only:
            entries = [e for e in entries if e["mutating"]]
        return entries

    def close(self):
        self._closed.set()
        self.stopping = True
        if self.health_prober is not None:
            self.health_prober.close()
        with self.store.lock:
            self.store.cond.notify_all()
        self.ops.drain()
        self.ops.stop()
        if self.state_file:
            self.store.save(self.state_file)

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, method, raw_path, headers, body):
        """Answer one request. ``headers`` is a case-insensitive mapping (or dict of str)."""
        parsed = urllib.parse.urlsplit(raw_path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        if path.startswith("/_localgce/guest/"):
            return guest_metadata.handle(self, method, path, query, headers, body)
        if path.startswith("/_localgce/"):
            return control.handle(self, method, path, query, body)
        if path == batch.PATH:
            return batch.handle(self, method, headers, body)
        auth = _bearer(headers)
        epoch = self.log_epoch
        try:
            resp, method_id = self._api(method, path, query, headers, body, auth)
        except errors.ApiError as exc:
            resp, method_id = error_response(exc), None
        self._record(method, path, query, resp.status, auth, method_id, body, epoch)
        return resp

    def _record(self, method, path, query, status, auth, method_id, body, epoch):
        entry = {
            "method": method,
            "path": path,
            "query": {k: (v[-1] if len(v) == 1 else v) for k, v in query.items()},
            "status": status,
            "auth": auth is not None,
            "id": method_id,
            "mutating": method not in ("GET", "HEAD") and not NON_MUTATING_POST.search(path),
            "time": time.time(),
        }
        if body and path.startswith(discovery.SERVICE_PREFIX):
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = None
        with self.log_lock:
            if epoch == self.log_epoch:
                self.log.append(entry)

    def _api(self, method, path, query, headers, body, auth):
        fault = self.faults.take(method, path, lambda f: "status" in f)
        if fault:
            status = int(fault["status"])
            exc = errors.ApiError(status, fault.get("reason") or errors.DEFAULT_REASON.get(status, "backendError"),
                                  fault.get("message") or errors.DEFAULT_MESSAGE.get(status, "Injected fault"))
            if path.startswith("/v1/"):
                return json_response(status, errors.rpc_error(status, exc.message)), None
            raise exc
        if path == "/token":
            return token.handle(method, headers, body), None
        if path == "/tokeninfo":
            return token.tokeninfo(self, method, query, body), None
        if (auth is not None and auth.startswith("expired")) or (auth is None and self.require_auth):
            if path.startswith("/v1/"):
                exc = errors.unauthenticated()
                return json_response(401, errors.rpc_error(401, exc.message)), None
            raise errors.unauthenticated()
        if path.startswith("/v1/"):
            return secrets.handle(self, method, path, auth), None
        if not path.startswith(discovery.SERVICE_PREFIX):
            raise errors.ApiError(404, "notFound", f"Not Found: {path}")
        return self._compute(method, path, query, body, headers)

    def own_prefixes(self, headers):
        """The Compute API base URLs of this server, as a client may have built them."""
        out = [self.base_url + discovery.SERVICE_PREFIX] if self.base_url else []
        host = headers.get("Host") or headers.get("host")
        if host:
            out += [f"http://{host}{discovery.SERVICE_PREFIX}", f"https://{host}{discovery.SERVICE_PREFIX}"]
        return out

    def _compute(self, method, path, query, body, headers):
        disc = self.discovery
        rel = path[len(discovery.SERVICE_PREFIX):]
        hit = disc.match(method, rel)
        if hit is None:
            raise errors.ApiError(404, "notFound", f"The requested URL {path} was not found on this server.")
        m, params = hit
        params = {k: urllib.parse.unquote(v) for k, v in params.items()}
        disc.check_path_params(m, params)
        own = self.own_prefixes(headers) if query or body else ()
        if own and query and any(p in v for p in own for vs in query.values() for v in vs):
            query = {k: [util.canonical_links(v, own) for v in vs] for k, vs in query.items()}
        q = disc.coerce_query(m, query)
        if "requestId" in q:
            _check_request_id(q["requestId"])
        parsed_body = None
        if m.request_ref is not None:
            try:
                parsed_body = json.loads(body) if body else {}
            except ValueError as exc:
                raise errors.json_payload(f"Invalid JSON payload received. {exc}", "") from None
            if body and any(p.encode() in body for p in own):
                parsed_body = util.canonical_links(parsed_body, own)
            disc.check_body(m, parsed_body)
        handler = resources.HANDLERS.get(m.id)
        if handler is None:
            raise errors.ApiError(501, "notImplemented", f"localgce does not implement {m.id}")
        ctx = Ctx(self, method, path, m, params, q, parsed_body)
        # Handlers run under the store lock and the answer is encoded before it is released,
        # so a concurrent mutation never shows half-applied. Long-polls wait on store.cond,
        # which releases the lock while sleeping.
        with self.store.lock:
            if ctx.project:
                self.store.ensure_project(ctx.project)
            zone = params.get("zone")
            if zone is not None and zone not in catalog.ZONES:
                raise errors.invalid_field("zone", zone, "Unknown zone.")
            region = params.get("region")
            if region is not None and region not in catalog.REGIONS:
                raise errors.invalid_field("region", region, "Unknown region.")
            # A retried request with a known requestId gets the original operation back,
            # before any validation (the resource it created may exist by now).
            rid = q.get("requestId")
            if rid and ctx.project:
                known = self.store.request_ids.get(f"{ctx.project}/{rid}")
                op = known and self.store.get(known)
                if op is not None:
                    return json_response(200, op), m.id
            return json_response(200, handler(ctx)), m.id


def start(host, port, *, vms=False, vm_state=None, vm_ports=None, **app_opts):
    """An App bound to a Server (not serving yet), with a VmService when ``vms`` asks for VMs and
    the host can boot them (see ``vm.service.decide``): (app, server, service or None).
    ``app_opts`` go to ``App``; the VMs' ``vm_state`` dir and ``vm_ports`` go to the VmService."""
    service, reason = None, "VMs disabled (API only)"
    if vms:
        from .vm import service as vm_service

        enabled, reason = vm_service.decide(vms)
        if enabled:
            service = vm_service.VmService(vm_state, vm_ports or vm_service.DEFAULT_VM_PORTS)
            app_opts["backend"] = service.backend
    try:
        app = App(**app_opts)
        server = Server(host, port, app)
    except BaseException:
        if service:
            service.close()
        raise
    app.vms_reason = reason
    if service:
        service.bind(app)
    return app, server, service


def _check_request_id(value):
    """The API accepts only a non-zero UUID as requestId."""
    try:
        ok = uuid.UUID(value).int != 0
    except ValueError:
        ok = False
    if not ok:
        raise errors.invalid_field("requestId", value, "The request ID must be a valid UUID with the exception "
                                   "that zero UUID is not supported (00000000-0000-0000-0000-000000000000).")


def _bearer(headers):
    value = headers.get("Authorization") or headers.get("authorization")
    if not value:
        return None
    scheme, _, tok = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return tok.strip()


# -- HTTP ------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "localgce"
    sys_version = ""
    # No Nagle delay, and headers and body leave in one write (see _serve): otherwise each
    # answer can wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # quiet: the request log is the record
        pass

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            resp = self.server.app.handle(self.command, self.path, self.headers, body)
        except Exception as exc:
            import traceback

            traceback.print_exc()
            resp = error_response(errors.ApiError(500, "backendError", f"localgce internal error: {exc!r}"))
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(resp.body)
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, host, port, app):
        super().__init__((host, port), Handler)
        self.app = app
        h, p = self.server_address[:2]
        app.base_url = f"http://{h}:{p}"

    @property
    def url(self):
        return self.app.base_url
