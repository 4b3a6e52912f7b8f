"""Where a group rollout's time goes: one timeline from localgce's request logs, the VMs' journals
and what every VM answers over HTTP (sampled every 0.1 s), for bench/group_rollout_bench.py --trace.

Every source stamps the host's wall clock (the simulated VMs share it), so the events merge into one
timeline, relative to the playbook's start. ``breakdown()`` cuts the agent path into its parts per
batch (the module's refresh, the agent's reaction, the unit's stop, pull and start, the agent's
MIN_UP, its report, the module's next poll) and the replace path per VM (the group's replace, the boot,
the container's start).
"""

import re
import threading
import time
import urllib.request

GUEST_PREFIX = "/_localgce/guest/"


class Sampler:
    """What each VM answers on port 80, every ``period`` seconds, in a thread: [(t, vm, body or None)]."""

    def __init__(self, urls_of, period=0.1):
        self.urls_of = urls_of
        self.period = period
        self.samples = []
        self.rounds = []  # [(t, VMs answering)], one per round over every VM of the group
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def _run(self):
        while not self._stop.is_set():
            try:
                urls = self.urls_of()
            except OSError:
                urls = {}
            answering = 0
            for vm, url in sorted(urls.items()):
                try:
                    with urllib.request.urlopen(url, timeout=1) as resp:
                        body = resp.read().decode().strip()
                except Exception:  # refused, reset, cut short while the container restarts
                    body = None
                answering += body is not None
                self.samples.append((time.time(), vm, body))
            self.rounds.append((time.time(), answering))
            self._stop.wait(self.period)

    def serving(self, size, max_unavailable):
        """(fewest VMs answering in one round, seconds with fewer than size - max_unavailable answering)."""
        if not self.rounds:
            return None, 0.0
        short = 0.0
        for (t, n), (t2, _n2) in zip(self.rounds, [*self.rounds[1:], self.rounds[-1]], strict=True):
            if n < size - max_unavailable:
                short += t2 - t
        return min(n for _t, n in self.rounds), short


def journals(srv, group, since):
    """{vm: [(t, unit, text)]} of cos-agent and the containers' units since ``since`` (epoch s)."""
    out = {}
    backend = srv.vms.backend
    for link, info in backend.endpoints().items():
        name = info["name"]
        if not name.startswith(group + "-"):
            continue
        vm = backend.vm(link)
        if vm is None:
            continue
        proc = vm.exec(["journalctl", "-u", "cos-agent.service", "-u", "cos-container-*", "--since",
                        "@%d" % int(since), "-o", "short-unix", "--no-pager"], timeout=60)
        lines = []
        for line in proc.stdout.splitlines():
            m = re.match(r"^(\d+\.\d+) \S+ ([^:\[]+)(?:\[\d+\])?: (.*)$", line)
            if m and float(m.group(1)) >= since:
                lines.append((float(m.group(1)), m.group(2), m.group(3)))
        out[name] = lines
    return out


def vm_of_guest_path(path):
    # /_localgce/guest/PROJECT/ZONE/INSTANCE/computeMetadata/v1/...
    parts = path[len(GUEST_PREFIX):].split("/")
    return parts[2] if len(parts) > 2 else "?"


def timeline(t0, api_log, guest_log, journal, samples):
    """[(t - t0, source, text)], sorted."""
    events = []
    for r in api_log:
        path = r["path"]
        if not path.startswith("/compute/v1/"):
            continue
        short = path.split("/compute/v1/projects/", 1)[-1].split("/", 1)[-1]
        if "getGuestAttributes" in path:
            events.append((r["time"], "api", "GET guest attributes %s" % short.split("/")[3]))
        else:
            events.append((r["time"], "api", "%s %s" % (r["method"], short)))
    for r in guest_log:
        path = r["path"]
        vm = vm_of_guest_path(path)
        rest = path.split("/computeMetadata/v1/", 1)[-1]
        if r["method"] == "GET" and rest.startswith("instance/attributes/") and r["query"].get("wait_for_change"):
            events.append((r["time"], vm, "metadata long-poll returned (timeout %s)" % r["query"].get("timeout_sec")))
        elif r["method"] == "PUT":
            events.append((r["time"], vm, "PUT %s" % rest.split("instance/guest-attributes/", 1)[-1]))
        elif r["method"] == "GET" and rest.startswith("instance/attributes/cos-container-"):
            events.append((r["time"], vm, "GET %s" % rest.split("instance/attributes/", 1)[-1]))
    for vm, lines in journal.items():
        for t, unit, text in lines:
            events.append((t, vm, "%s: %s" % (unit, text[:140])))
    last = {}
    for t, vm, body in samples:
        if last.get(vm, "?") != body:
            events.append((t, vm, "HTTP answers %r" % body))
            last[vm] = body
    return sorted(((t - t0, src, text) for t, src, text in events), key=lambda e: e[0])


def _first(events, after, src, pred):
    for t, s, text in events:
        if t >= after and s == src and pred(text):
            return t
    return None


def _last(events, before, src, pred):
    found = None
    for t, s, text in events:
        if t > before:
            break
        if s == src and pred(text):
            found = t
    return found


def _gap(a, b):
    return None if a is None or b is None else b - a


def agent_breakdown(events, version, min_up=3.0):
    """Per batch (one VM each, in order): seconds of each part, from the refresh to the next batch."""
    want = "web %s" % version
    applies = [t for t, s, text in events if s == "api" and text.startswith("POST") and
               text.endswith("/applyUpdatesToInstances")]
    if not applies:
        return []
    ends = [*applies[1:], _first(events, applies[-1], "api", lambda x: x.startswith("PATCH"))]
    rows = []
    for start, end in zip(applies, ends, strict=True):
        vm = next((text.split()[-1] for t, s, text in events
                   if t >= start and s == "api" and text.startswith("GET guest attributes")), None)
        woke = _first(events, start, vm, lambda x: x.startswith("metadata long-poll returned"))
        restart = _first(events, start, vm, lambda x: "cos-agent: restarting container" in x)
        stopped = _first(events, start, vm, lambda x: x.startswith("systemd: Stopped cos-container-"))
        started = _first(events, start, vm, lambda x: x.startswith("systemd: Started cos-container-"))
        answers = _first(events, start, vm, lambda x, w=want: x == "HTTP answers %r" % w)
        running = _first(events, start, vm, lambda x: "cos-agent: container" in x and ": running (" in x)
        put = _first(events, running or start, vm, lambda x: x.startswith("PUT cos-agent/") and
                     not x.endswith("/agent"))
        seen = _last(events, end, "api", lambda x, v=vm: x == "GET guest attributes %s" % v) if end else None
        rows.append({
            "vm": vm,
            "metadata to the agent": _gap(start, woke),
            "agent applies (unit, daemon-reload, restart)": _gap(woke, restart),
            "old container stops": _gap(restart, stopped),
            "pull and start": _gap(stopped, started),
            "unit active to answering": _gap(started, answers),
            "MIN_UP (from unit active)": min_up,
            "agent sees MIN_UP over, publishes": None if started is None or put is None else put - started - min_up,
            "module's poll sees it": _gap(put, seen),
            "to the next request": _gap(seen, end),
            "refresh to answering": _gap(start, answers),
            "batch (refresh to next)": _gap(start, end),
        })
    return rows


def replace_breakdown(events, version):
    """Per new VM: seconds from the group's patch to its creation, boot, container start, answer."""
    want = "web %s" % version
    patch = _first(events, -1e9, "api", lambda x: x.startswith("PATCH"))
    rows = []
    vms = []
    for t, s, text in events:
        if s not in ("api",) and s not in vms and text == "HTTP answers None" and (patch is None or t >= patch):
            vms.append(s)
    for vm in vms:
        seen = _first(events, -1e9, vm, lambda x: x == "HTTP answers None")
        agent = _first(events, -1e9, vm, lambda x: x.startswith("systemd: Started cos-agent"))
        unit = _first(events, -1e9, vm, lambda x: x.startswith("systemd: Starting cos-container-"))
        started = _first(events, -1e9, vm, lambda x: x.startswith("systemd: Started cos-container-"))
        answers = _first(events, -1e9, vm, lambda x, w=want: x == "HTTP answers %r" % w)
        rows.append({
            "vm": vm,
            "patch to the VM's port forwarded": _gap(patch, seen),
            "boot to the agent started": _gap(seen, agent),
            "agent to the unit starting": _gap(agent, unit),
            "pull and start": _gap(unit, started),
            "unit active to answering": _gap(started, answers),
            "patch to answering": _gap(patch, answers),
        })
    return patch, rows


def print_rows(title, rows):
    print("\n-- %s" % title)
    if not rows:
        print("  (nothing found)")
        return
    keys = [k for k in rows[0] if k != "vm"]
    print("  %-46s %s" % ("", " ".join("%14s" % r["vm"] for r in rows)))
    for k in keys:
        print("  %-46s %s" % (k, " ".join("%14s" % ("?" if r[k] is None else "%.2f" % r[k]) for r in rows)))
