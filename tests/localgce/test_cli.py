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
