"""End-to-end: the real ansible-playbook runs playbooks/deploy.yml against a real localgce over HTTP.

One localgce per pytest process (xdist worker); each test uses its own instance names, so the
tests do not depend on each other and run in any order (``-n 2`` friendly).
"""

import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE, LocalGCE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
ANSIBLE_PLAYBOOK = os.path.join(VENV_BIN, "ansible-playbook")
COLLECTIONS = os.path.join(ROOT, ".build", "pythonpath")
_ALL_EXAMPLES = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".yml"))
# Vars files of playbooks/deploy.yml, and those of playbooks/deploy-group.yml.
EXAMPLES = [e for e in _ALL_EXAMPLES if not e.startswith("group-")]
GROUP_EXAMPLES = [e for e in _ALL_EXAMPLES if e.startswith("group-")]
RECAP_RE = re.compile(r"^localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
_AUTH_PREFIXES = ("GCP_", "GCE_", "GOOGLE_", "CLOUDSDK_")


@pytest.fixture(scope="session")
def lgce():
    # The collection must be importable as ansible_collections.gce.cos (root conftest.py makes the link).
    assert os.path.exists(os.path.join(COLLECTIONS, "ansible_collections", "gce", "cos", "galaxy.yml"))
    srv = LocalGCE.start()
    yield srv
    srv.stop()


def base_env(tmp_path, lgce):
    """The environment of a run: nothing from the machine's GCP setup, only what the test gives."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_AUTH_PREFIXES) and not k.startswith("ANSIBLE_")}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "GCE_COS_API_ENDPOINT": lgce.url,
        # google.auth must never find a real metadata server.
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    return env


def token_env(tmp_path, lgce):
    env = base_env(tmp_path, lgce)
    env.update({"GCP_PROJECT": DEFAULT_PROJECT, "GCP_AUTH_KIND": "accesstoken", "GCP_ACCESS_TOKEN": "e2e-token"})
    return env


class Run:
    def __init__(self, proc):
        self.proc = proc
        self.out = proc.stdout + proc.stderr
        m = RECAP_RE.search(proc.stdout)
        self.ok, self.changed, self.unreachable, self.failed = (int(g) for g in m.groups()) if m else (None,) * 4

    def __repr__(self):
        return "Run(rc=%s)\n%s" % (self.proc.returncode, self.out[-6000:])


def playbook(env, name, *extra, varfile=None):
    """ansible-playbook playbooks/NAME.yml [-e @varfile] EXTRA..., from the repository root."""
    cmd = [ANSIBLE_PLAYBOOK, os.path.join("playbooks", name + ".yml")]
    if varfile:
        cmd += ["-e", "@" + str(varfile)]
    cmd += list(extra)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return Run(proc)


def example(name):
    return os.path.join(ROOT, "examples", name + ".yml")


def api_get(lgce, path):
    """GET a Compute API path (after /compute/v1/projects/P/) as JSON; None on 404."""
    url = "%s/compute/v1/projects/%s/%s" % (lgce.url, DEFAULT_PROJECT, path)
    req = urllib.request.Request(url, headers={"Authorization": "Bearer e2e-token"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def instance(lgce, name, zone=DEFAULT_ZONE):
    return api_get(lgce, "zones/%s/instances/%s" % (zone, name))


def metadata(inst):
    return {i["key"]: i["value"] for i in inst.get("metadata", {}).get("items", [])}


def mutations(lgce):
    return [r for r in lgce.requests(mutating_only=True) if r["path"].startswith("/compute/")]


@pytest.fixture(scope="session")
def rsa_key_pem(tmp_path_factory):
    path = tmp_path_factory.mktemp("key") / "key.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(path), "2048"], check=True, capture_output=True)
    return path.read_text()
