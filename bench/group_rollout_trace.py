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
            for vm, url in sorted(urls.items()):
                try:
                    with urllib.request.urlopen(url, timeout=1) as resp:
                        body = resp.read().decode().strip()
                except Exception:  # refused, reset, cut short while the container restarts
                    body = None
                self.samples.append((time.time(), vm, body))
            self._stop.wait(self.period)


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
