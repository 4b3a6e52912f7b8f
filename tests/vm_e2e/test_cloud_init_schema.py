"""The user-data of every example, checked by the simulated VM's cloud-init (COS M129's 25.1.4),
besides the host's older one that tests/e2e uses. The role renders it with no API call
(playbooks/user_data.yml); the image's cloud-init validates it in a private mount namespace."""

import os
import subprocess

import pytest

from conftest import COLLECTIONS, HERE, ROOT, VENV_BIN, require_simulator

# The vars files of playbooks/deploy.yml (group-*.yml are playbooks/deploy-group.yml's).
EXAMPLES = sorted(f for f in os.listdir(os.path.join(ROOT, "examples"))
                  if f.endswith(".yml") and not f.startswith("group-"))
# The oldest cloud-init the COS milestones in support ship (M125); the image must be at least as new.
COS_M125_CLOUD_INIT = (24, 4, 1)


@pytest.fixture(scope="module")
def rootfs():
    require_simulator()
    from localgce.vm import image

    path = image.build()
    version = image.cloud_init_version(path)
    assert tuple(int(p) for p in version.split(".")[:3]) >= COS_M125_CLOUD_INIT, version
    return path


def render(example, dest, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GCP_", "GCE_"))}
    env.update({"ANSIBLE_COLLECTIONS_PATH": COLLECTIONS, "ANSIBLE_LOCALHOST_WARNING": "false",
                "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false", "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
                "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp")})
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(HERE, "playbooks", "user_data.yml"),
                           "-e", "@" + os.path.join(ROOT, "examples", example), "-e", "dest=" + str(dest)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_user_data_passes_the_newer_cloud_init_schema(example, rootfs, tmp_path):
    from localgce.vm import image

    dest = tmp_path / "user-data"
    render(example, dest, tmp_path)
    assert dest.read_text().startswith("#cloud-config\n")
    ok, out = image.cloud_init_schema(rootfs, str(dest))
    assert ok and "Valid schema" in out, out


def test_the_newer_schema_refuses_what_it_should(rootfs, tmp_path):
    """The check is real: a wrong type is refused, naming the key."""
    from localgce.vm import image

    bad = tmp_path / "bad"
    bad.write_text("#cloud-config\nruncmd: 5\n")
    ok, out = image.cloud_init_schema(rootfs, str(bad))
    assert not ok and "runcmd: 5 is not of type 'array'" in out, out
