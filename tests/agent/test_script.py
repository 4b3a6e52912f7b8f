"""The agent's shell files themselves: bash syntax, shellcheck, JSON escaping, the contract
with the Python side, the unit and cloud-init parts, and the generated copy modules carry."""

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess

import jsonschema
import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils._vm import agent_scripts, cos_agent, vm_contract

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
STUBS = os.path.join(HERE, "stubs")
AGENT_DIR = os.path.join(ROOT, "plugins", "module_utils", "_agent")
SCRIPTS = {name: os.path.join(AGENT_DIR, name) for name in ("cos-agent", "fetch-secrets", "disk-prepare")}
CLOUD_CONFIG_SCHEMA = "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"


def _generate():
    spec = importlib.util.spec_from_file_location("generate", os.path.join(ROOT, "tests", "generate.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script_files():
    return dict(SCRIPTS)


def test_the_generated_copy_is_current():
    """plugins/module_utils/_vm/agent_scripts.py is what tests/generate.py makes of the shell files."""
    generate = _generate()
    assert generate.AGENT_SCRIPTS not in generate.stale(), "run python tests/generate.py"
    for const, name in generate.SCRIPTS:
        with open(SCRIPTS[name]) as f:
            assert getattr(agent_scripts, const) == f.read()
    assert cos_agent.AGENT_SCRIPT is agent_scripts.AGENT_SCRIPT


def _defaults(path):
    """NAME -> default of every ``NAME=${COS_AGENT_X:-default}`` line, and plain ``NAME=value`` lines."""
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([A-Z_]+)=\$\{COS_AGENT_[A-Z_]+:-(.*)\}$", line.rstrip("\n"))
            if m:
                out[m.group(1)] = m.group(2)
                continue
            m = re.match(r"^([A-Z_]+)=('?)([^'$]*)\2$", line.rstrip("\n"))
            if m:
                out.setdefault(m.group(1), m.group(3))
    return out


def test_the_agent_defaults_are_the_vm_contract():
    # Sourcing runs the assignments (and not main): bash itself says what the defaults are.
    names = ("MD_URL", "UNIT_DIR", "STATE_DIR", "SECRETS_DIR", "GA_NS", "KEY_PREFIX", "IMAGE_LINE", "READY_LINE",
             "CRASH_LOOP_RESTARTS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COS_AGENT_")}
    code = 'source "$1"; for n in %s; do printf "%%s\\n" "${!n}"; done' % " ".join(names)
    proc = subprocess.run(["bash", "-c", code, "bash", SCRIPTS["cos-agent"]], capture_output=True, text=True,
                          env=env, check=True)
    got = dict(zip(names, proc.stdout.split("\n"), strict=False))
    assert got == {
        "MD_URL": vm_contract.METADATA_URL,
        "UNIT_DIR": vm_contract.UNIT_DIR,
        "STATE_DIR": vm_contract.STATE_DIR,
        "SECRETS_DIR": vm_contract.SECRETS_DIR,
        "GA_NS": vm_contract.GUEST_ATTRIBUTE_NAMESPACE,
        "KEY_PREFIX": vm_contract.METADATA_PREFIX,
        "IMAGE_LINE": vm_contract.IMAGE_LINE_PREFIX,
        "READY_LINE": vm_contract.READY_LINE_PREFIX,
        "CRASH_LOOP_RESTARTS": str(vm_contract.CRASH_LOOP_RESTARTS),
    }
    # The agent derives unit names from the same prefix as the metadata keys.
    assert vm_contract.UNIT_PREFIX == vm_contract.METADATA_PREFIX
    # The agent names its own report key and the helper's place by these literals.
    with open(SCRIPTS["cos-agent"]) as f:
        agent = f.read()
    assert "ga_queue %s " % vm_contract.AGENT_REPORT_KEY in agent
    assert os.path.dirname(vm_contract.AGENT_PATH) == os.path.dirname(vm_contract.FETCH_SECRETS_PATH)


def test_the_helpers_defaults_are_the_vm_contract():
    fetch = _defaults(SCRIPTS["fetch-secrets"])
    assert fetch["MD_URL"] == vm_contract.METADATA_URL
    assert fetch["SECRETS_DIR"] == vm_contract.SECRETS_DIR
    # The role's registry login keeps its password file beside the secrets.
    login = _defaults(os.path.join(ROOT, "roles", "cos_deploy", "files", "registry-login"))
    assert login["RUN_DIR"] == vm_contract.SECRETS_DIR
    assert login["MD_URL"] == vm_contract.METADATA_URL


def test_the_role_puts_its_helpers_and_docker_config_where_the_units_look():
    templates = os.path.join(ROOT, "roles", "cos_deploy", "templates")
    text = ""
    for name in sorted(os.listdir(templates)):
        with open(os.path.join(templates, name)) as f:
            text += f.read()
    assert "DOCKER_CONFIG=%s" % vm_contract.DOCKER_CONFIG_DIR in text
    for path in re.findall(r"/var/lib/cos-agent[^\s'\"]*", text):
        assert path == vm_contract.DOCKER_CONFIG_DIR or path.startswith(vm_contract.BIN_DIR + "/"), path


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


def bash_json_str(script_file, value, tmp_path):
    """Run the agent's own json_str on value (bytes, passed through a file to keep them exact)."""
    data = str(tmp_path / "input")
    with open(data, "wb") as f:
        f.write(value)
    code = 'source "$1"; json_str "$(cat "$2"; printf x)"; printf "%s" "$REPLY"'
    proc = subprocess.run(["bash", "-c", code, "bash", script_file, data], capture_output=True, check=True)
    return proc.stdout


def test_json_escaping_of_every_byte(script_files, tmp_path):
    raw = bytes(range(1, 256))
    out = bash_json_str(script_files["cos-agent"], raw, tmp_path)
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
def test_json_escaping_of_nasty_strings(script_files, value, tmp_path):
    out = bash_json_str(script_files["cos-agent"], value.encode(), tmp_path)
    assert json.loads(out.decode("ascii")) == value + "x"


def test_version_is_the_script_hash(script_files, tmp_path):
    proc = subprocess.run(["bash", script_files["cos-agent"], "--version"], capture_output=True, text=True,
                          env=dict(os.environ, COS_AGENT_STATE_DIR=str(tmp_path / "st")))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == cos_agent.agent_version()
    assert cos_agent.agent_version() == hashlib.sha256(cos_agent.AGENT_SCRIPT.encode()).hexdigest()[:12]


def test_agent_unit_runs_the_script_with_bash():
    unit = cos_agent.AGENT_UNIT
    assert "ExecStart=/bin/bash /var/lib/cos-agent/bin/cos-agent\n" in unit
    assert "Type=simple\n" in unit and "Restart=always\n" in unit
    for dep in ("network-online.target", "docker.service"):
        assert dep in unit.split("Wants=", 1)[1].split("\n", 1)[0]
        assert dep in unit.split("After=", 1)[1].split("\n", 1)[0]
    # Started synchronously from runcmd: ordered after gcr-online.target, which COS never reaches
    # without a route or DNS to gcr.io, it would hold cloud-init and every container.
    assert "gcr-online.target" not in unit


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
    # Units it points at (docker.service) do not exist in the fake root.
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


def test_the_agent_reads_the_image_from_its_own_line(tmp_path):
    from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit

    # Keys that sort around "image" and values that look like it must not matter.
    unit = container_unit.build({
        "name": "web", "image": "registry.example.com:5000/team/web:1.2@sha256:" + "a" * 64,
        "env": {"image": "evil:1"}, "labels": {"a": '"image":"evil:2"'}, "healthcheck": {"command": "true"},
    })["unit"]
    path = tmp_path / "cos-container-web.service"
    path.write_text(unit)
    code = 'source "$1"; image_of_unit "$2"; printf "%s" "$REPLY"'
    proc = subprocess.run(["bash", "-c", code, "bash", SCRIPTS["cos-agent"], str(path)], capture_output=True,
                          text=True, check=True)
    assert proc.stdout == "registry.example.com:5000/team/web:1.2@sha256:" + "a" * 64
    # A unit without the line (written by hand) gives no image: the agent then asks docker.
    path.write_text("[Unit]\nDescription=x\n# cos-image: not-this\n")
    proc = subprocess.run(["bash", "-c", code, "bash", SCRIPTS["cos-agent"], str(path)], capture_output=True,
                          text=True, check=True)
    assert proc.stdout == ""
