"""Issue 22, items 1 and 2: an update pulls its image and fetches its secrets while the old container keeps
running, and "running" means ready (a readiness probe, or docker's health check).

Real bash and curl run the agent (guest.py); docker and systemctl are the stand-ins; HTTP probes reach a real
server on 127.0.0.1 that the test switches between 503 and 200. The containers here are stop-first (the host network);
test_start_first.py has the start-first ones.
"""

import http.server
import os
import threading

import pytest
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

from localgce.testing import DEFAULT_PROJECT

WEB = {"name": "web", "image": "nginx:1.25"}
REF = "projects/%s/secrets/db-pass/versions/latest" % DEFAULT_PROJECT


def build(spec):
    return container_unit.build(spec)


def report(cloud, name):
    return cloud.guest_attributes().get(name) or {}


def shows(cloud, name, revision, state):
    got = report(cloud, name)
    return got if got.get("revision") == revision and got.get("state") == state else None


def container_image(guest, name):
    path = os.path.join(guest.stub_state, "containers", name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = f.read().splitlines()
    return lines[0] if lines[2] == "running" else None


def restarts(guest):
    return [c for c in guest.lifecycle_calls() if c.startswith(("systemctl restart", "systemctl start"))]


# ---------------------------------------------------------------- pull first


def test_an_update_pulls_while_the_old_container_runs(cloud, guest):
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="30", COS_AGENT_BUSY_TIMEOUT="1")
    old, new = build(WEB), build(dict(WEB, image="nginx:1.26"))
    cloud.set_containers({"web": old["unit"]})
    guest.start()
    guest.wait_for(lambda: shows(cloud, "web", old["revision"], "running"), what="web running")
    guest.clear_calls()

    open(os.path.join(guest.stub_state, "pull_gate"), "w").close()
    cloud.set_containers({"web": new["unit"]})
    guest.wait_for(lambda: "docker pull -- nginx:1.26" in guest.calls(), what="the pull of the new image")
    # While the pull is held: a "pulling" report at the new revision, and the old container untouched.
    guest.wait_for(lambda: shows(cloud, "web", new["revision"], "pulling"), what="web pulling")
    assert restarts(guest) == []
    assert container_image(guest, "web") == "nginx:1.25"
    assert guest.unit_text("web") == old["unit"]

    os.remove(os.path.join(guest.stub_state, "pull_gate"))
    guest.wait_for(lambda: shows(cloud, "web", new["revision"], "running"), what="web running the update")
    calls = guest.calls()
    assert calls.index("docker pull -- nginx:1.26") < calls.index("systemctl restart --no-block -- "
                                                                  "cos-container-web.service")
    assert container_image(guest, "web") == "nginx:1.26"


def test_a_failed_pull_leaves_the_old_container_serving_and_reports_why(cloud, guest):
    old, bad = build(WEB), build(dict(WEB, image="registry.example/nope/web:9"))
    cloud.set_containers({"web": old["unit"]})
    assert guest.run_once().returncode == 0
    guest.clear_calls()

    guest.bad_image("registry.example/nope/web:9")
    cloud.set_containers({"web": bad["unit"]})
    proc = guest.run_once()
    assert proc.returncode == 0, proc.stdout + proc.stderr

    ga = report(cloud, "web")
    assert ga["state"] == "failed" and ga["revision"] == bad["revision"], ga
    assert ga["image"] == "registry.example/nope/web:9" and ga["digest"] == ""
    assert ga["error"].startswith("update not applied: docker pull registry.example/nope/web:9 failed: ")
    assert "manifest unknown" in ga["error"]
    assert ga["error"].endswith("revision %s keeps running" % old["revision"])
    # Nothing was stopped: the old unit and container stay.
    assert restarts(guest) == [] and not [c for c in guest.lifecycle_calls() if "stop" in c]
    assert guest.unit_text("web") == old["unit"]
    assert container_image(guest, "web") == "nginx:1.25"

    # The next change (here, back to a good image) applies and clears the failure.
    good = build(dict(WEB, image="nginx:1.27"))
    cloud.set_containers({"web": good["unit"]})
    assert guest.run_once().returncode == 0
    ga = report(cloud, "web")
    assert ga["state"] == "running" and ga["revision"] == good["revision"] and ga["error"] == "", ga
    assert container_image(guest, "web") == "nginx:1.27"


def test_a_secret_that_cannot_be_fetched_leaves_the_old_container_serving(cloud, guest, localgce):
    localgce.set_secret(DEFAULT_PROJECT, "db-pass", "v1")
    old = build(dict(WEB, secret_env={"DB_PASSWORD": REF}))
    cloud.set_containers({"web": old["unit"]})
    assert guest.run_once().returncode == 0
    assert report(cloud, "web")["state"] == "running"
    guest.clear_calls()

    missing = "projects/%s/secrets/nope/versions/latest" % DEFAULT_PROJECT
    new = build(dict(WEB, image="nginx:1.26", secret_env={"DB_PASSWORD": REF, "API_TOKEN": missing}))
    cloud.set_containers({"web": new["unit"]})
    assert guest.run_once().returncode == 0

    ga = report(cloud, "web")
    assert ga["state"] == "failed" and ga["revision"] == new["revision"], ga
    assert ga["error"].startswith("update not applied: secrets: fetch-secrets: API_TOKEN: cannot access %s (HTTP 404)"
                                  % missing), ga
    assert restarts(guest) == []
    assert container_image(guest, "web") == "nginx:1.25"
    # The running container's secrets file is still there, and the scratch copy is gone.
    assert sorted(os.listdir(guest.secrets_dir)) == ["web.env"]


# ---------------------------------------------------------------- readiness


class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.paths.append(self.path)
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.status, server.paths = 503, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_container_with_an_http_probe_is_running_only_once_it_answers(cloud, guest, app):
    guest.env.update(COS_AGENT_WATCH_TIMEOUT="30", COS_AGENT_BUSY_TIMEOUT="30")
    port = app.server_address[1]
    web = build(dict(WEB, ports=[port], order="stop-first",
                     readiness={"type": "http", "port": port, "path": "/up?x=1", "interval": 1, "deadline": 120}))
    cloud.set_containers({"web": web["unit"]})
    guest.start()
    guest.wait_for(lambda: shows(cloud, "web", web["revision"], "starting"), what="web starting")
    # The container runs, yet it stays "starting" over several probes that see 503.
    guest.wait_for(lambda: len(app.paths) >= 3, what="three probes")
    assert shows(cloud, "web", web["revision"], "starting")
    assert set(app.paths) == {"/up?x=1"}
    assert container_image(guest, "web") == "nginx:1.25"

    app.status = 200
    ga = guest.wait_for(lambda: shows(cloud, "web", web["revision"], "running"), what="web running")
    assert ga["error"] == ""
    assert "container web: ready (http probe)" in guest.log()
    # Ready once is ready for this start: a later 503 does not turn the report back.
    probes = len(app.paths)
    app.status = 503
    guest.clear_calls()
    cloud.set_containers({"web": web["unit"]}, other={"unrelated": "x"})
    guest.wait_for(lambda: cloud.guest_attributes()["agent"]["applied"] and "no change" in guest.log(),
                   what="an apply with no change")
    assert shows(cloud, "web", web["revision"], "running")
    assert len(app.paths) == probes


def test_a_container_not_ready_by_its_deadline_is_failed_with_what_the_probe_saw(cloud, guest, app):
    port = app.server_address[1]
    web = build(dict(WEB, ports=[port], order="stop-first",
                     readiness={"type": "http", "port": port, "interval": 1, "deadline": 2}))
    cloud.set_containers({"web": web["unit"]})
    assert guest.run_once().returncode == 0
    ga = report(cloud, "web")
    assert ga["state"] == "failed" and ga["revision"] == web["revision"], ga
    assert ga["error"] == "not ready 2s after it started: GET http://127.0.0.1:%d/ answered 503, not 200" % port
    assert len(app.paths) >= 2


def test_tcp_and_command_probes(cloud, guest, app):
    port = app.server_address[1]
    tcp = build({"name": "tcp", "image": "redis:7", "ports": [port], "order": "stop-first",
                 "readiness": {"type": "tcp", "port": port}})
    cmd = build({"name": "db", "image": "postgres:16",
                 "readiness": {"command": ["pg_isready", "-d", "my db"], "interval": 1, "deadline": 30}})
    cloud.set_containers({"tcp": tcp["unit"], "db": cmd["unit"]})
    guest.env["COS_AGENT_SETTLE_SECONDS"] = "60"
    guest.start()
    guest.wait_for(lambda: shows(cloud, "tcp", tcp["revision"], "running"), what="tcp ready")
    guest.wait_for(lambda: shows(cloud, "db", cmd["revision"], "starting"), what="db starting")
    guest.wait_for(lambda: "docker exec db pg_isready -d my db" in guest.calls(), what="a command probe")
    open(os.path.join(guest.stub_state, "exec_ok"), "w").close()
    guest.wait_for(lambda: shows(cloud, "db", cmd["revision"], "running"), what="db ready")


def test_a_docker_health_check_gates_running_when_there_is_no_probe(cloud, guest):
    os.makedirs(os.path.join(guest.stub_state, "health"))
    health = os.path.join(guest.stub_state, "health", "web")
    with open(health, "w") as f:
        f.write("starting\n")
    web = build(dict(WEB, healthcheck={"command": "true"}))
    cloud.set_containers({"web": web["unit"]})
    guest.env["COS_AGENT_BUSY_TIMEOUT"] = "1"
    guest.start()
    guest.wait_for(lambda: shows(cloud, "web", web["revision"], "starting"), what="web starting")
    with open(health, "w") as f:
        f.write("healthy\n")
    guest.wait_for(lambda: shows(cloud, "web", web["revision"], "running"), what="web healthy")


def test_an_unhealthy_container_is_failed(cloud, guest):
    os.makedirs(os.path.join(guest.stub_state, "health"))
    with open(os.path.join(guest.stub_state, "health", "web"), "w") as f:
        f.write("unhealthy\n")
    web = build(WEB)
    cloud.set_containers({"web": web["unit"]})
    assert guest.run_once().returncode == 0
    ga = report(cloud, "web")
    assert ga["state"] == "failed" and ga["error"].startswith("docker health check: unhealthy"), ga
