"""Fixtures of the ecosystem tests: a fresh copy of the collection (what `make collection` copies)
and the artifact `ansible-galaxy collection build` makes from it, in a temporary directory."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)


def tool_env(tmp, **extra):
    """An environment that sees only the collection under TMP (not one installed in ~/.ansible)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(PATH=VENV_BIN + os.pathsep + env.get("PATH", ""), ANSIBLE_COLLECTIONS_PATH=str(tmp),
               ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_HOME=str(tmp / ".ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp / ".ansible-tmp"), ANSIBLE_NOCOLOR="1")
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def collection_copy(tmp_path_factory):
    """TMP/ansible_collections/gce/cos, made by the Makefile's own `collection` rule."""
    tmp = tmp_path_factory.mktemp("collection")
    path = tmp / "ansible_collections" / "gce" / "cos"
    subprocess.run(["make", "-s", "-C", ROOT, "collection", "COLLECTION=%s" % path], check=True)
    return path


@pytest.fixture(scope="session")
def artifact(collection_copy, tmp_path_factory):
    out = tmp_path_factory.mktemp("artifact")
    subprocess.run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(out)],
                   cwd=collection_copy, check=True, capture_output=True,
                   env=tool_env(collection_copy.parents[2]))
    (tarball,) = out.glob("gce-cos-*.tar.gz")
    return tarball
