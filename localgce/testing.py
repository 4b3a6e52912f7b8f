"""In-process localgce for tests.

    from localgce.testing import LocalGCE
    srv = LocalGCE.start()            # free port, background thread
    srv.url                           # http://127.0.0.1:PORT  (api_endpoint for the client)
    srv.requests(mutating_only=True)  # the request log
    srv.stop()

pytest: ``pytest_plugins = ["localgce.testing"]`` (or import the fixtures) gives
``localgce_server`` (one server per session) and ``localgce`` (the same server, reset to
the seeded state with an empty log, faults and default config before each test).
"""

from __future__ import annotations

import threading

from . import guest_metadata, secrets
from .server import start

DEFAULT_PROJECT = "test-project"
DEFAULT_ZONE = "us-central1-a"


class LocalGCE:
    def __init__(self, app, server, thread):
        self.app = app
        self.server = server
        self._thread = thread
        self._defaults = {"operation_delay": app.ops.delay, "require_auth": app.require_auth,
                          "wait_timeout": app.wait_timeout}

    @classmethod
    def start(cls, host="127.0.0.1", port=0, vms=False, vm_state=None, vm_ports=None, **opts):
        """Start a server; ``opts`` go to ``App`` (projects, operation_delay, state_file,
        require_auth, backend, wait_timeout).

        ``vms``: True boots a real VM per instance (localgce.vm; raises SimulatorUnavailable
        with the one-line reason where the host cannot), "auto" does so when the host can,
        False (default) is API-only. ``vm_state``: the VMs' state dir (default: a temp dir,
        deleted by stop()); ``vm_ports``: VM ports forwarded to host loopback (80, 8080)."""
        app, server, _service = start(host, port, vms=vms, vm_state=vm_state, vm_ports=vm_ports, **opts)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                  name="localgce-http", daemon=True)
        thread.start()
        return cls(app, server, thread)

    # -- life cycle ------------------------------------------------------------------------
    @property
    def url(self):
        return self.app.base_url

    @property
    def vms(self):
        """The VmService (backend, registries) when VMs are enabled, else None."""
        return self.app.vms

    def stop(self):
        try:
            self.app.close()
        finally:
            if self.app.vms is not None:
                self.app.vms.close()  # VMs off, registries stopped, even if close() failed
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def reset(self):
        """Seeded state, empty logs, no faults, the start-up config."""
        self.app.reset()
        self.config(**self._defaults)

    def config(self, operation_delay=None, require_auth=None, wait_timeout=None):
        """Change settings of the running server (``reset()`` restores the start-up ones)."""
        if wait_timeout is not None:
            self.app.wait_timeout = float(wait_timeout)
        if operation_delay is not None:
            self.app.ops.delay = float(operation_delay)
        if require_auth is not None:
            self.app.require_auth = bool(require_auth)

    # -- request log and faults -----------------------------------------------------------
    def requests(self, mutating_only=False):
        return self.app.requests(mutating_only=mutating_only)

    def clear_requests(self):
        self.app.clear_requests()

    def guest_requests(self):
        with self.app.log_lock:
            return list(self.app.guest_log)

    def guest_budget(self):
        """The guest-attribute budget and its per-VM counters (GET /_localgce/guest-budget)."""
        return self.app.guest_budget.describe()

    def guest_attribute_rates(self, project, zone, instance, since=0.0):
        """One VM's guest-attribute queries in the metadata server's log (after ``since``, epoch):
        {"queries", "writes", "drops", "over", "max_per_minute", "max_per_second", "writes_per_minute"}, the maxima
        over sliding windows of 60 s and 1 s, and the writes of each minute from the first query."""
        prefix = "/_localgce/guest/%s/%s/%s/" % (project, zone, instance)
        entries = [e for e in self.guest_requests() if e.get("budget") and e["path"].startswith(prefix)
                   and e["time"] >= since]
        times = [e["time"] for e in entries]

        def most(width):
            best, lo = 0, 0
            for hi, t in enumerate(times):
                while times[lo] <= t - width:
                    lo += 1
                best = max(best, hi - lo + 1)
            return best

        writes = [e["time"] for e in entries if e["method"] != "GET"]
        minutes = [0] * (int((times[-1] - times[0]) // 60) + 1) if times else []
        for t in writes:
            minutes[int((t - times[0]) // 60)] += 1
        return {"queries": len(entries), "writes": len(writes),
                "drops": sum(1 for e in entries if e["budget"] == "dropped"),
                "over": sum(1 for e in entries if e["budget"] == "over"),
                "max_per_minute": most(60.0), "max_per_second": most(1.0), "writes_per_minute": minutes}

    def fault(self, method=None, path=".*", count=1, *, status=None, reason=None, message=None,
              operation_error=None, delay=None):
        """Inject a fault for the next ``count`` requests whose method and path (regex search) match.

        One of: ``status`` (+ ``reason``, ``message``): answer with that HTTP error;
        ``operation_error`` ({"code", "message", "http_status"}): the operation ends in error
        and changes nothing; ``delay`` (seconds): the operation takes that long.
        """
        spec = {"method": method, "path": path, "count": count}
        if status is not None:
            spec["status"] = status
            if reason:
                spec["reason"] = reason
            if message:
                spec["message"] = message
        elif operation_error is not None:
            spec["operation_error"] = operation_error
        elif delay is not None:
            spec["delay"] = delay
        return self.app.faults.add(spec)

    def faults(self):
        with self.app.faults.lock:
            return list(self.app.faults.items)

    def clear_faults(self):
        self.app.faults.clear()

    # -- data -------------------------------------------------------------------------------
    def set_secret(self, project, secret, data):
        """Add a Secret Manager version; returns its number."""
        return secrets.add_version(self.app.store, project, secret, data)

    def guest_url(self, project, zone, instance):
        """Base URL of an instance's metadata server, ending in /computeMetadata/v1/."""
        return self.app.guest_url(project, zone, instance)

    def set_guest_attribute(self, project, zone, instance, namespace, key, value):
        guest_metadata.set_guest_attribute(self.app.store, project, zone, instance, namespace, key, value)

    def get_resource(self, path):
        """A stored resource by path ('projects/p/zones/z/instances/x'), or None (a copy)."""
        import copy

        with self.app.store.lock:
            return copy.deepcopy(self.app.store.get(path))

    def client(self, client_class, token="localgce-token"):
        """A google-cloud-compute client aimed at this server (imported lazily)."""
        from google.api_core.client_options import ClientOptions
        from google.oauth2.credentials import Credentials

        return client_class(credentials=Credentials(token=token),
                            client_options=ClientOptions(api_endpoint=self.url), transport="rest")


try:
    import pytest
except ImportError:  # pragma: no cover - only needed for the fixtures
    pytest = None

if pytest is not None:

    @pytest.fixture(scope="session")
    def localgce_server():
        srv = LocalGCE.start()
        yield srv
        srv.stop()

    @pytest.fixture
    def localgce(localgce_server):
        localgce_server.reset()
        return localgce_server
