"""The cos agent converging containers from instance metadata (localgce's metadata server).

Real bash and curl run the agent's text from cos_agent.py; the units are rendered by
container_unit (the same text cos_container writes); docker and systemctl are stand-ins
(guest.py). Metadata is set with the real google-cloud-compute client (setMetadata with
fingerprints), and the agent's reports are read back with instances.getGuestAttributes.
"""

import json
import os

from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

WEB = {"name": "web", "image": "nginx:1.25", "ports": ["8080/tcp"]}
DB = {"name": "db", "image": "gcr.io/my-project/db@sha256:" + "a" * 64, "env": {"MODE": "primary $HOME"}}


def unit(spec):
    return container_unit.build(spec)["unit"]


def rev(spec):
    return container_unit.build(spec)["revision"]


def assert_ok(proc):
    assert proc.returncode == 0, proc.stdout + proc.stderr


def starts(guest):
    return [c.split()[-1] for c in guest.lifecycle_calls() if c.startswith(("systemctl start", "systemctl restart"))]


def test_add_writes_units_starts_them_and_reports(cloud, guest):
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)}, other={"startup-note": "x"})
    assert_ok(guest.run_once())

    # Units are the metadata values byte for byte.
    assert guest.units() == ["cos-container-db.service", "cos-container-web.service"]
    assert guest.unit_text("web") == unit(WEB)
    assert guest.unit_text("db") == unit(DB)
    calls = guest.lifecycle_calls()
    assert calls.count("systemctl daemon-reload") == 1
    assert sorted(starts(guest)) == ["cos-container-db.service", "cos-container-web.service"]
    first_start = min(i for i, c in enumerate(calls) if c.startswith("systemctl start"))
    assert calls.index("systemctl daemon-reload") < first_start
    assert guest.containers() == ["db", "web"]

    ga = cloud.guest_attributes()
    assert ga["web"]["state"] == "running"
    assert ga["web"]["revision"] == rev(WEB) == container_unit.revision(cloud.metadata()["cos-container-web"])
    assert ga["web"]["image"] == "nginx:1.25"
    assert ga["web"]["digest"].startswith("sha256:") and len(ga["web"]["digest"]) == 71
    assert ga["web"]["error"] == ""
    # A digest-pinned image reports the pinned digest.
    assert ga["db"]["digest"] == "sha256:" + "a" * 64
    assert ga["db"]["state"] == "running"
    agent = ga["agent"]
    assert agent["version"] == guest.version()
    assert agent["applied"] and agent["error"] == "" and agent["containers"] == 2
    assert agent["time"].endswith("Z")


def test_change_restarts_only_the_changed_container(cloud, guest):
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)})
    assert_ok(guest.run_once())
    guest.clear_calls()

    web2 = dict(WEB, image="nginx:1.26")
    cloud.set_containers({"web": unit(web2), "db": unit(DB)})
    assert_ok(guest.run_once())

    assert guest.lifecycle_calls() == [
        "systemctl daemon-reload",
        "systemctl reset-failed -- cos-container-web.service",
        "systemctl restart --no-block -- cos-container-web.service",
    ]
    assert guest.unit_text("web") == unit(web2)
    ga = cloud.guest_attributes()
    assert ga["web"]["revision"] == rev(web2) and ga["web"]["image"] == "nginx:1.26"
    assert ga["web"]["state"] == "running"
    assert ga["db"]["revision"] == rev(DB) and ga["db"]["state"] == "running"


def test_other_metadata_change_restarts_nothing(cloud, guest):
    cloud.set_containers({"web": unit(WEB)}, other={"note": "1"})
    assert_ok(guest.run_once())
    before = cloud.guest_attributes()
    guest.clear_calls()

    cloud.set_containers({"web": unit(WEB)}, other={"note": "2"})
    proc = guest.run_once()
    assert_ok(proc)

    assert guest.lifecycle_calls() == []
    assert not [c for c in guest.calls() if c.startswith("docker ") and "inspect" not in c]
    assert "no change (1 containers)" in proc.stdout
    after = cloud.guest_attributes()
    assert after["web"]["revision"] == before["web"]["revision"]
    assert after["web"]["state"] == "running"
    assert after["agent"]["applied"] != before["agent"]["applied"]


def test_remove_stops_disables_and_deletes(cloud, guest):
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)})
    assert_ok(guest.run_once())
    assert "db" in cloud.guest_attributes()
    guest.clear_calls()

    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())

    assert guest.lifecycle_calls() == [
        "systemctl stop -- cos-container-db.service",
        "systemctl disable -- cos-container-db.service",
        "systemctl daemon-reload",
        "systemctl reset-failed -- cos-container-db.service",
    ]
    assert "docker rm -f -- db" in guest.calls()
    assert guest.units() == ["cos-container-web.service"]
    assert guest.containers() == ["web"]
    ga = cloud.guest_attributes()
    assert "db" not in ga
    assert ga["web"]["state"] == "running"
    assert not os.path.exists(os.path.join(guest.state_dir, "applied", "db"))


def test_an_emptied_key_removes_its_container(cloud, guest):
    # A group's all-instances configuration can only empty a key, never delete it.
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)})
    assert_ok(guest.run_once())
    cloud.set_containers({"web": unit(WEB), "db": ""})
    assert_ok(guest.run_once())
    assert guest.units() == ["cos-container-web.service"]
    assert guest.containers() == ["web"]
    ga = cloud.guest_attributes()
    assert "db" not in ga and ga["agent"]["error"] == "", ga
    assert ga["agent"]["containers"] == 1


def test_removing_the_last_container(cloud, guest):
    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())
    cloud.set_containers({})
    assert_ok(guest.run_once())
    assert guest.units() == []
    assert guest.containers() == []
    assert set(cloud.guest_attributes()) == {"agent"}


def test_bad_image_is_reported_failed_with_the_pull_error(cloud, guest):
    bad = dict(WEB, image="registry.example/nope/web:9")
    guest.bad_image("registry.example/nope/web:9")
    cloud.set_containers({"web": unit(bad), "db": unit(DB)})
    assert_ok(guest.run_once())

    ga = cloud.guest_attributes()
    assert ga["web"]["state"] == "failed"
    assert ga["web"]["revision"] == rev(bad)
    assert "manifest for registry.example/nope/web:9 not found" in ga["web"]["error"]
    assert "exit status 1" in ga["web"]["error"]
    assert ga["web"]["digest"] == ""
    assert ga["db"]["state"] == "running"

    # Fixing the image converges: the new revision runs and the error is gone.
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)})
    assert_ok(guest.run_once())
    ga = cloud.guest_attributes()
    assert ga["web"]["state"] == "running" and ga["web"]["error"] == "" and ga["web"]["revision"] == rev(WEB)


def test_nasty_error_text_is_escaped_in_the_guest_attribute(cloud, guest):
    nasty = 'Error response from daemon: "quoted" back\\slash\ttab \x1b[31mansi\x1b[0m {"state":"running"} caf\u00e9'
    with open(os.path.join(guest.stub_state, "pull_error"), "w") as f:
        f.write(nasty + "\n")
    guest.bad_image(WEB["image"])
    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())

    raw = cloud.raw_guest_attributes()["web"]
    assert "\n" not in raw
    report = json.loads(raw)
    assert report["state"] == "failed"
    # Everything survives except non-ASCII bytes, which become '?' (always valid JSON).
    assert nasty.replace("\u00e9", "??") in report["error"]


def test_crash_between_writing_and_starting_converges(cloud, guest):
    """The unit file is already the new text but the agent died before starting it."""
    cloud.set_containers({"web": unit(WEB)})
    os.makedirs(guest.unit_dir, exist_ok=True)
    with open(os.path.join(guest.unit_dir, "cos-container-web.service"), "w") as f:
        f.write(unit(WEB))
    with open(os.path.join(guest.unit_dir, ".cos-container-web.service.tmp"), "w") as f:
        f.write("half written")
    assert_ok(guest.run_once())

    assert "systemctl daemon-reload" in guest.lifecycle_calls()
    assert starts(guest) == ["cos-container-web.service"]
    assert not os.path.exists(os.path.join(guest.unit_dir, ".cos-container-web.service.tmp"))
    assert cloud.guest_attributes()["web"]["state"] == "running"

    # A second run is a no-op: the revision is now recorded as applied.
    guest.clear_calls()
    assert_ok(guest.run_once())
    assert guest.lifecycle_calls() == []


def test_unchanged_container_survives_an_agent_restart_untouched(cloud, guest):
    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())
    guest.clear_calls()
    assert_ok(guest.run_once())
    assert guest.lifecycle_calls() == []
    assert cloud.guest_attributes()["web"]["state"] == "running"


def test_reboot_restarts_from_empty_etc(cloud, guest):
    """/etc is tmpfs on COS: after a reboot the units are gone but the records are not."""
    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())
    os.remove(os.path.join(guest.unit_dir, "cos-container-web.service"))
    guest.reboot_stubs()
    guest.clear_calls()
    assert_ok(guest.run_once())
    assert starts(guest) == ["cos-container-web.service"]
    assert cloud.guest_attributes()["web"]["state"] == "running"


def test_metadata_errors_during_apply_touch_nothing(cloud, guest):
    cloud.set_containers({"web": unit(WEB), "db": unit(DB)})
    assert_ok(guest.run_once())
    guest.clear_calls()

    cloud.set_containers({"web": unit(dict(WEB, image="nginx:1.27"))})
    cloud.fault_guest(r".*/instance/attributes/cos-container-.*", status=503, count=5)
    proc = guest.run_once()

    assert proc.returncode == 1
    assert "apply incomplete, nothing stopped" in proc.stdout
    assert guest.lifecycle_calls() == []
    assert guest.units() == ["cos-container-db.service", "cos-container-web.service"]
    ga = cloud.guest_attributes()
    assert "503" in ga["agent"]["error"]
    assert ga["db"]["state"] == "running"

    cloud.clear_faults()
    assert_ok(guest.run_once())
    assert guest.units() == ["cos-container-web.service"]
    assert cloud.guest_attributes()["agent"]["error"] == ""


def test_logs_and_reports_never_carry_env_values(cloud, guest):
    cloud.set_containers({"db": unit(DB)})
    proc = guest.run_once()
    assert_ok(proc)
    assert "primary" not in proc.stdout + proc.stderr
    assert "primary" not in json.dumps(cloud.raw_guest_attributes())


def test_an_answer_not_from_the_metadata_server_is_not_trusted(cloud, guest):
    """A 200 without Metadata-Flavor: Google (a proxy, a captive portal) must not empty the VM."""
    cloud.set_containers({"web": unit(WEB)})
    assert_ok(guest.run_once())
    guest.clear_calls()
    # A well-formed empty document with an ETag: only the missing header gives it away.
    cloud.fault_guest(r"/instance/attributes/\?", 200, count=1, body=b"{}", headers={"ETag": "0123456789abcdef"})
    proc = guest.run_once()
    assert proc.returncode == 1
    assert "Metadata-Flavor" in proc.stdout
    assert guest.lifecycle_calls() == []
    assert guest.units() == ["cos-container-web.service"]
