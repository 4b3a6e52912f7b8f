"""The README's real-project quick start: the built artifact installs with ansible-galaxy, and its
playbook runs by its collection name (``ansible-playbook gce.cos.deploy``) from any directory."""

import os
import subprocess

from conftest import ANSIBLE_PLAYBOOK, ROOT, VENV_BIN, example, instance, metadata, token_env


def test_the_built_artifact_installs_and_its_deploy_playbook_runs_by_name(lgce, tmp_path):
    galaxy = os.path.join(VENV_BIN, "ansible-galaxy")
    out = tmp_path / "artifact"
    build = subprocess.run([galaxy, "collection", "build", "--output-path", str(out), ROOT],
                           capture_output=True, text=True, timeout=300, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    (tarball,) = list(out.glob("gce-cos-*.tar.gz"))
    installed = tmp_path / "collections"
    # --force: ansible-lint may have installed the collection in ~/.ansible/collections already.
    install = subprocess.run([galaxy, "collection", "install", "--force", "--no-deps", "-p", str(installed),
                              str(tarball)], capture_output=True, text=True, timeout=300, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    assert (installed / "ansible_collections/gce/cos/playbooks/deploy.yml").is_file()
    # Nothing of the test tree travels in the artifact.
    assert not (installed / "ansible_collections/gce/cos/localgce").exists()

    env = token_env(tmp_path, lgce)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    proc = subprocess.run([ANSIBLE_PLAYBOOK, "gce.cos.deploy", "-e", "@" + example("nginx"),
                           "-e", "cos_deploy_wait=false"],
                          cwd=workdir, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cos-container-nginx" in metadata(instance(lgce, "nginx-demo"))
