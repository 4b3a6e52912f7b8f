"""python -m localgce serve: the listening line, SIGTERM, --state persistence, --project."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Served:
    def __init__(self, *args):
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.proc = subprocess.Popen([sys.executable, "-m", "localgce", "serve", "--port", "0", *args],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", line)
        assert m, (line, self.proc.stderr.read() if self.proc.poll() is not None else "")
        self.url = m.group(1)
        self.token = None
        assert int(m.group(2)) > 0

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, out, err


@pytest.fixture
def served():
    started = []

    def start(*args):
        s = Served(*args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def test_serve_answers_and_stops_on_sigterm(served):
    s = served()
    status, zone = s.call("GET", "/compute/v1/projects/p/zones/us-central1-a")
    assert status == 200 and zone["name"] == "us-central1-a"
    rc, out, err = s.stop()
    assert rc == 0, err
    assert "stopped" in out


def test_state_persists_across_restarts(served, tmp_path):
    state = tmp_path / "state.json"
    s = served("--state", str(state))
    status, op = s.call("POST", "/compute/v1/projects/p/zones/us-central1-a/disks", {"name": "kept", "sizeGb": "12"})
    assert status == 200
    s.call("POST", "/_localgce/secrets", {"project": "p", "secret": "s", "data": "x"})
    assert s.stop()[0] == 0
    assert state.exists()
    s2 = served("--state", str(state))
    status, disk = s2.call("GET", "/compute/v1/projects/p/zones/us-central1-a/disks/kept")
    assert status == 200 and disk["sizeGb"] == "12" and disk["status"] == "READY"
    status, op2 = s2.call("GET", f"/compute/v1/projects/p/zones/us-central1-a/operations/{op['name']}")
    assert status == 200 and op2["status"] == "DONE"
    assert s2.stop()[0] == 0


def test_pending_operations_finish_before_state_is_saved(served, tmp_path):
    state = tmp_path / "state.json"
    s = served("--state", str(state), "--operation-delay", "60")
    status, op = s.call("POST", "/compute/v1/projects/p/zones/us-central1-a/disks", {"name": "slow", "sizeGb": "10"})
    assert status == 200 and op["status"] == "PENDING"
    assert s.stop()[0] == 0
    saved = json.loads(state.read_text())
    assert saved["colls"]["projects/p/zones/us-central1-a/disks"]["slow"]["status"] == "READY"


def test_project_and_require_auth_options(served):
    s = served("--project", "only", "--require-auth")
    assert s.call("GET", "/compute/v1/projects/only/zones/us-central1-a")[0] == 401
    s.token = "t"
    assert s.call("GET", "/compute/v1/projects/only/zones/us-central1-a")[0] == 200
    status, body = s.call("GET", "/compute/v1/projects/other/zones/us-central1-a")
    assert status == 404 and body["error"]["errors"][0]["reason"] == "notFound"
    assert s.stop()[0] == 0


def test_state_is_saved_while_running_and_settles_after_a_kill(served, tmp_path):
    state = tmp_path / "state.json"
    s = served("--state", str(state), "--operation-delay", "600")
    status, op = s.call("POST", "/compute/v1/projects/p/zones/us-central1-a/disks", {"name": "d", "sizeGb": "10"})
    assert status == 200 and op["status"] == "PENDING"
    # The autosave runs each second: wait for it by polling the file.
    for _ in range(100):
        if state.exists() and '"d"' in state.read_text():
            break
        time.sleep(0.1)
    s.proc.kill()
    s.proc.wait()
    s2 = served("--state", str(state))
    status, disk = s2.call("GET", "/compute/v1/projects/p/zones/us-central1-a/disks/d")
    assert status == 200 and disk["status"] == "READY"
    status, op2 = s2.call("GET", f"/compute/v1/projects/p/zones/us-central1-a/operations/{op['name']}")
    assert op2["status"] == "DONE"
    s2.stop()


def test_any_number_of_quick_signals_stop_it_cleanly(served):
    # An operator's double Ctrl-C, or a supervisor that sends SIGTERM twice: each signal only asks for the
    # stop, and the server stops once, with exit status 0, however many arrive and however fast. (Before,
    # a second signal that landed inside the first handler's threading.Event.set could deadlock it: a race,
    # so this sends quick pairs and bursts to several servers.)
    for attempt in range(6):
        s = served("--no-vms")
        assert s.call("GET", "/_localgce/health")[0] == 200
        burst = 2 if attempt % 2 == 0 else 25
        for n in range(burst):
            os.kill(s.proc.pid, signal.SIGTERM if n % 3 else signal.SIGINT)
        out, err = s.proc.communicate(timeout=30)
        assert s.proc.returncode == 0, err
        assert "localgce: stopped" in out and "Traceback" not in err, err


def test_refuses_to_start_without_the_discovery_package():
    # google-api-python-client made unimportable, as in an environment that never installed it: localgce
    # names the package and the pip command, exits non-zero, and never says it is listening.
    env = {k: v for k, v in os.environ.items() if k != "LOCALGCE_DISCOVERY"}
    env["PYTHONPATH"] = ROOT
    wrapper = ("import sys; sys.modules['googleapiclient'] = None; from localgce.__main__ import main; "
               "sys.exit(main(['serve', '--port', '0', '--no-vms']))")
    proc = subprocess.run([sys.executable, "-c", wrapper], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode != 0
    assert "listening" not in proc.stdout, proc.stdout
    assert "google-api-python-client" in proc.stderr, proc.stderr
    assert "-m pip install google-api-python-client" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr


def test_docs_name_every_serve_option_and_only_existing_examples():
    # docs/localgce.md's options table lists every option of `serve --help`; the example files it names exist.
    with open(os.path.join(ROOT, "docs", "localgce.md")) as handle:
        doc = handle.read()
    proc = subprocess.run([sys.executable, "-m", "localgce", "serve", "--help"], cwd=ROOT, capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert proc.returncode == 0
    options = set(re.findall(r"(--[a-z][a-z-]+)", proc.stdout)) - {"--help"}
    assert options >= {"--no-vms", "--vm-state", "--vm-port"}
    table = [line for line in doc.splitlines() if line.startswith("| `--")]
    missing = sorted(o for o in options if not any(("`%s" % o) in line for line in table))
    assert missing == [], missing
    for path in re.findall(r"@?(examples/[\w./-]+\.yml)", doc):
        assert os.path.exists(os.path.join(ROOT, path)), path
