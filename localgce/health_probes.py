"""Health checks that really probe managed instances (VM simulator mode).

When the VM backend can open a socket in a guest's network (``probe_socket(instance)``), the
first managed instance group with an autohealing policy starts one prober thread. It probes
every RUNNING member on its health check's ``port`` at the guest's own address: HTTP is a GET
of ``requestPath`` that must answer 200 (and start with ``response`` when that is set), HTTPS
the same after a TLS handshake that verifies nothing, TCP a connect. A probe gets
``timeoutSec``; one starts every ``checkIntervalSec`` per member.

A member's state is UNKNOWN until ``healthyThreshold`` probes in a row succeed (HEALTHY) or
``unhealthyThreshold`` in a row fail (UNHEALTHY, or TIMEOUT when the last failure was a
timeout). A new instance under the same name (recreated, autohealed) starts again at UNKNOWN.
After each round the prober converges the groups it watches, so autohealing happens without
anyone calling the API, as on Compute Engine.

The prober knows no resource handler: what it watches and how a group converges are given to it
(``for_app(app, watched=..., converge=...)``, by the group handlers).

In API-only mode (the null backend) nothing here runs: the API path pays nothing.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time

HEALTHY, UNHEALTHY, TIMEOUT, UNKNOWN = "HEALTHY", "UNHEALTHY", "TIMEOUT", "UNKNOWN"
TICK = 0.25  # how often the prober looks for due probes, seconds
PROBE_WORKERS = 8


def supported(backend):
    return callable(getattr(backend, "probe_socket", None))


def for_app(app, *, watched, converge):
    """The app's prober, started on first use; None when the backend cannot probe (API-only).
    ``watched(store)`` gives ``[(group, its health check or None, [(member name, instance or
    None)])]`` for every group to probe; ``converge(group)`` runs one step of a group, with the
    store lock held, after each round."""
    if not supported(app.backend):
        return None
    with _start_lock:
        if app.health_prober is None:
            app.health_prober = Prober(app.store, app.backend.probe_socket, watched, converge)
    return app.health_prober


_start_lock = threading.Lock()


class _Member:
    __slots__ = ("fails", "id", "inflight", "next", "oks", "state")

    def __init__(self, instance_id):
        self.id = instance_id
        self.state = UNKNOWN
        self.oks = self.fails = 0
        self.next = 0.0
        self.inflight = False


def probe(sock_factory, address, hc):
    """One probe of ``hc`` (a healthCheck resource) at ``address``: HEALTHY, UNHEALTHY or TIMEOUT.
    ``sock_factory()`` gives an unconnected TCP socket in the guest's network."""
    import ssl  # here, not at import: localgce's start-up stays light in API-only mode
    typ = hc["type"]
    spec = hc[{"HTTP": "httpHealthCheck", "HTTPS": "httpsHealthCheck", "TCP": "tcpHealthCheck"}[typ]]
    timeout = float(hc["timeoutSec"])
    deadline = time.monotonic() + timeout
    sock = None
    try:
        sock = sock_factory()
        sock.settimeout(timeout)
        sock.connect((address, int(spec["port"])))
        if typ == "TCP":
            return HEALTHY
        if typ == "HTTPS":
            tls = ssl.create_default_context()
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
            sock = tls.wrap_socket(sock, server_hostname=spec.get("host") or None)
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        conn = http.client.HTTPConnection(spec.get("host") or address, int(spec["port"]), timeout=timeout)
        conn.sock = sock
        conn.request("GET", spec.get("requestPath") or "/", headers={"User-Agent": "GoogleHC/1.0"})
        resp = conn.getresponse()
        body = resp.read(1024)
        if resp.status != 200:
            return UNHEALTHY
        want = spec.get("response")
        return HEALTHY if not want or body.startswith(want.encode()) else UNHEALTHY
    except TimeoutError:
        return TIMEOUT
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError):
        return UNHEALTHY
    finally:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


class Prober:
    """Probes the members of every group with an autohealing policy; see the module doc."""

    def __init__(self, store, probe_socket, watched, converge):
        from concurrent.futures import ThreadPoolExecutor  # only once a group needs probing

        self.store = store
        self.probe_socket = probe_socket
        self.watched = watched
        self.converge = converge
        self.lock = threading.Lock()
        self.members = {}  # (group selfLink, instance name) -> _Member
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=PROBE_WORKERS, thread_name_prefix="localgce-probe")
        self._thread = threading.Thread(target=self._loop, name="localgce-health-prober", daemon=True)
        self._thread.start()

    def state(self, group_link, name, instance_id):
        """The probed detailedHealthState of a member (UNKNOWN until its thresholds are met)."""
        with self.lock:
            m = self.members.get((group_link, name))
            return m.state if m is not None and m.id == instance_id else UNKNOWN

    def close(self):
        self._stop.set()
        self._thread.join(10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- the loop ----------------------------------------------------------------------------
    def _loop(self):
        while not self._stop.wait(TICK):
            try:
                self._round()
            except Exception as exc:  # keep probing; a bad round must not end autohealing
                print(f"localgce: health prober: {exc!r}", flush=True)

    def _round(self):
        store = self.store
        now = time.monotonic()
        due, groups = [], []
        with store.lock:
            seen = set()
            for igm, hc, members in self.watched(store):
                link = igm["selfLink"]
                groups.append(igm)
                for name, inst in members:
                    key = (link, name)
                    seen.add(key)
                    with self.lock:
                        m = self.members.get(key)
                        if m is None or (inst is not None and m.id != inst["id"]):
                            m = self.members[key] = _Member(inst["id"] if inst else None)
                        if inst is None or inst["status"] != "RUNNING" or hc is None:
                            m.oks = m.fails = 0
                            m.state = UNKNOWN
                            continue
                        if m.inflight or now < m.next:
                            continue
                        m.inflight = True
                        m.next = now + float(hc["checkIntervalSec"])
                    due.append((m, dict(inst), dict(hc)))
            with self.lock:
                for key in set(self.members) - seen:
                    del self.members[key]
        for m, inst, hc in due:
            self._pool.submit(self._probe_one, m, inst, hc)
        if groups:
            with store.lock:
                for igm in groups:
                    self.converge(igm)

    def _probe_one(self, m, inst, hc):
        try:
            target = self.probe_socket(inst)
            result = UNHEALTHY if target is None else probe(target[0], target[1], hc)
        except Exception:
            result = UNHEALTHY
        with self.lock:
            m.inflight = False
            if result == HEALTHY:
                m.oks, m.fails = m.oks + 1, 0
                if m.oks >= int(hc["healthyThreshold"]):
                    m.state = HEALTHY
            else:
                m.oks, m.fails = 0, m.fails + 1
                if m.fails >= int(hc["unhealthyThreshold"]):
                    m.state = result

