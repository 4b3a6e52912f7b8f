"""End-to-end with real VMs: ansible-playbook playbooks/deploy.yml against localgce whose
instances boot COS-like VMs (localgce/vm), with images in local docker-registry processes.

One localgce + registries per session (tests run in file order, without xdist: VMs are
heavy on 2 cores). Without root/nspawn/debootstrap every test FAILS with the simulator's
one-line reason, never skips. test_zz_leaks.py stops the session and checks that nothing
is left on the host.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE
from localgce.vm import unavailable_reason

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, ".build", "pythonpath")
TOKEN = "vm-e2e-token"
_AUTH_PREFIXES = ("GCP_", "GCE_", "GOOGLE_", "CLOUDSDK_", "ANSIBLE_")


def require_simulator():
    reason = unavailable_reason()
    if reason:
        pytest.fail(reason, pytrace=False)


class Session:
    """The session's localgce with VMs, its registries and test images."""

    def __init__(self):
        from localgce.testing import LocalGCE
        from localgce.vm import leaks, registry

        self.leak_snapshot = leaks.snapshot()
        self.srv = LocalGCE.start(vms=True)
        self.closed = False
        try:
            self.vms = self.srv.vms
            pub, priv = self.vms.registry, self.vms.private_registry
            self.digests = {
                "web:v1": registry.push_web_image(pub, "web", "v1"),
                "web:v2": registry.push_web_image(pub, "web", "v2"),
                "private/api:v1": registry.push_web_image(priv, "private/api", "v1"),
            }
            self.registry_secret = self.vms.store_registry_secret(DEFAULT_PROJECT)
        except BaseException:
            self.close()
            raise
        self.extra_vars = {
            "e2e_registry": pub.address,
            "e2e_private_registry": priv.address,
            "e2e_registry_user": priv.auth[0],
            "e2e_registry_secret": self.registry_secret,
        }

    @property
    def url(self):
        return self.srv.url

    def close(self):
        if not self.closed:
            self.closed = True
            self.srv.stop()

    # ----- the API, as a user sees it
    def api(self, method, path, body=None):
        """A Compute API call under /compute/v1/projects/P/ (JSON), None on 404."""
        url = "%s/compute/v1/projects/%s/%s" % (self.url, DEFAULT_PROJECT, path)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise AssertionError("%s %s: HTTP %s %s" % (method, path, exc.code, exc.read()[:500])) from None

    def instance(self, name):
        return self.api("GET", "zones/%s/instances/%s" % (DEFAULT_ZONE, name))

    def vm_info(self, name):
        """The instance's entry of GET /_localgce/vms (ports, shell, boot_id)."""
        with urllib.request.urlopen(self.url + "/_localgce/vms", timeout=60) as resp:
            doc = json.loads(resp.read())
        return doc["instances"]["%s/%s/%s" % (DEFAULT_PROJECT, DEFAULT_ZONE, name)]

    def vm(self, name):
        inst = self.instance(name)
        return self.vms.backend.vm(inst["selfLink"])

    def wait_idle(self):
        assert self.vms.backend.wait_idle(timeout=600), "VM actions still running"

    def reset(self, name, sync=True):
        """instances.reset, which is a power cut: writes not yet on the disk are lost (writelog.py),
        as on Compute Engine. ``sync`` first flushes the guest's page cache, as ext4's commit and
        writeback would have done given time, so that a test of "what was written survives" is not a
        race against the flush; a test of the loss itself passes sync=False."""
        if sync:
            self.vm(name).exec(["sync"], check=True)
        self.api("POST", "zones/%s/instances/%s/reset" % (DEFAULT_ZONE, name))
        self.wait_idle()
        wait_for(lambda: self.instance(name)["status"] == "RUNNING", "instance %s RUNNING" % name)

    def url_of(self, name, port, ipv6=False):
        """The host URL that reaches the VM's port at its IPv4 (or IPv6) address, on its interface."""
        return "http://127.0.0.1:%s/" % self.vm_info(name)["ports6" if ipv6 else "ports"][str(port)]

    def http_body(self, name, port, expect=None, tries=240):
        """GET / of the instance's VM port through its host forward (until it answers `expect`)."""
        url = self.url_of(name, port)
        body = None
        for _ in range(max(1, tries // 40)):
            body = http_get(url)
            if expect is None or body == expect:
                break
            time.sleep(0.5)
        return body

    def serial(self, name):
        return self.api("GET", "zones/%s/instances/%s/serialPort" % (DEFAULT_ZONE, name))["contents"]

    # ----- ansible-playbook
    def env(self, tmp_path):
        env = {k: v for k, v in os.environ.items() if not k.startswith(_AUTH_PREFIXES)}
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "e2e_record",
            "E2E_RESULTS_FILE": str(tmp_path / "results.jsonl"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "GCE_COS_API_ENDPOINT": self.url,
            "GCE_METADATA_HOST": "127.0.0.1:9",  # google.auth must never find a real metadata server
            "GCE_METADATA_IP": "127.0.0.1:9",
            "GCP_PROJECT": DEFAULT_PROJECT,
            "GCP_AUTH_KIND": "accesstoken",
            "GCP_ACCESS_TOKEN": TOKEN,
            "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        return env

    def playbook(self, tmp_path, playbook, varfile=None, args=(), **extra):
        """Run ansible-playbook [ARGS] from the repository root; returns a Run with each task's result."""
        cmd = [os.path.join(VENV_BIN, "ansible-playbook"), playbook, *args]
        if varfile:
            cmd += ["-e", "@" + os.path.join(HERE, "vars", varfile)]
        cmd += ["-e", json.dumps({**self.extra_vars, **extra})]
        results = tmp_path / "results.jsonl"
        if results.exists():
            results.unlink()
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env(tmp_path), capture_output=True, text=True,
                              timeout=1200, check=False)
        lines = results.read_text().splitlines() if results.exists() else []
        return Run(proc, [json.loads(line) for line in lines])

    def deploy(self, tmp_path, varfile, **extra):
        return self.playbook(tmp_path, "playbooks/deploy.yml", varfile, **extra)


class Run:
    def __init__(self, proc, results):
        self.proc = proc
        self.rc = proc.returncode
        self.results = results

    def task(self, name):
        """The result of the last task whose name contains `name` (None if it did not run)."""
        found = [r for r in self.results if name in r["task"]]
        return found[-1]["result"] if found else None

    def status(self, name):
        """'ok' or 'failed' for the last task whose name contains `name` (None if it did not run)."""
        found = [r for r in self.results if name in r["task"]]
        return found[-1]["status"] if found else None

    def __repr__(self):
        # pytest shortens long assertion messages: the failed tasks' messages come first.
        failed = ["%s: %s" % (r["task"], r["result"].get("msg")) for r in self.results if r["status"] == "failed"]
        return "Run(rc=%s)\nfailed: %s\nstdout: %s\nstderr: %s" % (
            self.rc, failed, self.proc.stdout[-8000:], self.proc.stderr[-3000:])


# What konlet did at every start of its container (iptables, IPv4: ACCEPT for tcp, udp and icmp
# on INPUT and FORWARD). Its rules last until the next reboot: COS's iptables-setup starts each
# boot from its default-DROP rules again. The simulator has no konlet; tests do this in its stead.
KONLET_FIREWALL = " && ".join("iptables -w -A %s -p %s -j ACCEPT" % (chain, proto)
                              for chain in ("INPUT", "FORWARD") for proto in ("tcp", "udp", "icmp"))


def konlet_open_firewall(vm):
    vm.exec(["bash", "-c", KONLET_FIREWALL], check=True)


def wait_for(pred, what, tries=1200, pause=0.25, message=None):
    """Poll pred() until true, bounded by a count of tries (never a wall-clock assertion).
    ``message()`` adds what to look at when it never happens (a unit's journal, say)."""
    for _ in range(tries):
        if pred():
            return
        time.sleep(pause)
    raise AssertionError("never happened: " + what + ("\n" + message() if message else ""))


def http_get(url, tries=240, pause=0.25):
    """GET url until it answers 200 (a container needs a moment to listen); the body."""
    last = None
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.read().decode()
        except OSError as exc:
            last = exc
        time.sleep(pause)
    raise AssertionError("%s never answered: %s" % (url, last))


_SESSION = {}


@pytest.fixture(scope="session")
def e2e():
    require_simulator()
    assert os.path.exists(os.path.join(COLLECTIONS, "ansible_collections", "gce", "cos", "galaxy.yml"))
    if "s" not in _SESSION:
        _SESSION["s"] = Session()
    yield _SESSION["s"]
    _SESSION["s"].close()


@pytest.fixture(autouse=True)
def _guest_attribute_budget():
    """Every VM test runs under Compute Engine's guest-attribute budget (10 queries a minute, 3 a
    second per VM), which localgce's metadata server enforces: after each test, no VM had a query
    over it (a dropped write is a lost report), counted in the metadata server's log."""
    yield
    session = _SESSION.get("s")
    if session is None or session.closed:
        return
    for label, counts in session.srv.guest_budget()["instances"].items():
        project, zone, name = label.split("/")
        rates = session.srv.guest_attribute_rates(project, zone, name)
        assert counts["drops"] == 0 and counts["over"] == 0, (label, counts, rates)
        assert rates["max_per_minute"] <= 10 and rates["max_per_second"] <= 3, (label, rates)

