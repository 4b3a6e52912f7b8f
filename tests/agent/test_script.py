"""The agent's text itself: bash syntax, shellcheck, JSON escaping, the unit and cloud-init parts."""

import hashlib
import json
import os
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils import cos_agent

STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs")
SCRIPTS = {"cos-agent": cos_agent.AGENT_SCRIPT, "fetch-secrets": cos_agent.FETCH_SECRETS_SCRIPT}
CLOUD_CONFIG_SCHEMA = "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"


@pytest.fixture
def script_files(tmp_path):
    paths = {}
    for name, text in SCRIPTS.items():
        path = tmp_path / name
        path.write_text(text)
        paths[name] = str(path)
    return paths


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_bash_syntax(script_files, name):
    proc = subprocess.run(["bash", "-n", script_files[name]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (make deps installs it)")
def test_shellcheck_clean(script_files):
    stubs = [os.path.join(STUBS, n) for n in ("docker", "journalctl", "iptables")]
    proc = subprocess.run(
        ["shellcheck", "--shell=bash", script_files["cos-agent"], script_files["fetch-secrets"], *stubs],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def bash_json_str(script_file, value):
    """Run the agent's own json_str on value (bytes, passed through a file to keep them exact)."""
    data = script_file + ".input"
    with open(data, "wb") as f:
        f.write(value)
    code = 'source "$1"; json_str "$(cat "$2"; printf x)"; printf "%s" "$REPLY"'
    proc = subprocess.run(["bash", "-c", code, "bash", script_file, data], capture_output=True, check=True)
    return proc.stdout


def test_json_escaping_of_every_byte(script_files):
    raw = bytes(range(1, 256))
    out = bash_json_str(script_files["cos-agent"], raw)
    decoded = json.loads(out.decode("ascii"))
    # The sentinel x keeps the trailing bytes; bytes >= 0x80 become '?' (always valid JSON).
    expected = bytes(range(1, 128)).decode("ascii") + "?" * 128 + "x"
    assert decoded == expected


@pytest.mark.parametrize(
    "value",
    [
        'docker: Error response from daemon: pull access denied for "evil\\image", repository does not exist',
        "multi\nline\r\nwith\ttabs and a bell\a and escape \x1b[31mred\x1b[0m",
        '\\"}, "state": "running", "x": "',
        "",
    ],
)
def test_json_escaping_of_nasty_strings(script_files, value):
    out = bash_json_str(script_files["cos-agent"], value.encode())
    assert json.loads(out.decode("ascii")) == value + "x"


def test_version_is_the_script_hash(script_files):
    proc = subprocess.run(["bash", script_files["cos-agent"], "--version"], capture_output=True, text=True,
                          env=dict(os.environ, COS_AGENT_STATE_DIR=os.path.dirname(script_files["cos-agent"]) + "/st"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == cos_agent.agent_version()
    assert cos_agent.agent_version() == hashlib.sha256(cos_agent.AGENT_SCRIPT.encode()).hexdigest()[:12]


def test_agent_unit_runs_the_script_with_bash():
    unit = cos_agent.AGENT_UNIT
    assert "ExecStart=/bin/bash /var/lib/cos-agent/bin/cos-agent\n" in unit
    assert "Type=simple\n" in unit and "Restart=always\n" in unit
    for dep in ("network-online.target", "docker.service", "gcr-online.target"):
        assert dep in unit.split("Wants=", 1)[1].split("\n", 1)[0]
        assert dep in unit.split("After=", 1)[1].split("\n", 1)[0]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_agent_unit_verifies(tmp_path):
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    for rel in ("bin/bash", "usr/bin/bash"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/bash", root / "bin/bash")
    (root / "etc/systemd/system/cos-agent.service").write_text(cos_agent.AGENT_UNIT)
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--root=%s" % root, "/etc/systemd/system/cos-agent.service"],
        capture_output=True,
        text=True,
    )
    # Units it points at (docker.service, gcr-online.target) do not exist in the fake root.
    noise = [line for line in proc.stderr.splitlines() if line and "not found" not in line.lower()]
    assert noise == [], proc.stderr


def test_cloud_init_fragment_installs_and_starts_the_agent():
    frag = cos_agent.cloud_init_fragment()
    files = {f["path"]: f for f in frag["write_files"]}
    assert files["/var/lib/cos-agent/bin/cos-agent"]["content"] == cos_agent.AGENT_SCRIPT
    assert files["/var/lib/cos-agent/bin/fetch-secrets"]["content"] == cos_agent.FETCH_SECRETS_SCRIPT
    assert files["/etc/systemd/system/cos-agent.service"]["content"] == cos_agent.AGENT_UNIT
    assert frag["runcmd"] == [["systemctl", "daemon-reload"], ["systemctl", "restart", "cos-agent.service"]]
    # The scripts survive a YAML round trip byte for byte (their hash is the version).
    doc = yaml.safe_load("#cloud-config\n" + yaml.safe_dump(frag))
    assert doc == frag


@pytest.mark.skipif(not os.path.exists(CLOUD_CONFIG_SCHEMA), reason="cloud-init schema not installed")
def test_cloud_init_fragment_matches_the_cloud_config_schema():
    with open(CLOUD_CONFIG_SCHEMA) as f:
        schema = json.load(f)
    jsonschema.validate(cos_agent.cloud_init_fragment(), schema)
