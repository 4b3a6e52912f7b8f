"""Without root or the tools, the simulator says why in one line, and refuses to start."""

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

import localgce.vm as vm_pkg
from localgce.vm import SimulatorUnavailable, image, unavailable_reason
from localgce.vm.machine import VirtualMachine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_not_root_gives_one_line(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = unavailable_reason()
    assert reason and "\n" not in reason and "root" in reason
    with pytest.raises(SimulatorUnavailable) as exc:
        VirtualMachine(str(tmp_path))
    assert str(exc.value) == reason
    with pytest.raises(SimulatorUnavailable):
        image.build()


def test_missing_tool_is_named(monkeypatch):
    real_which = vm_pkg.shutil.which
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(vm_pkg.shutil, "which", lambda t: None if t == "debootstrap" else real_which(t))
    reason = unavailable_reason()
    assert reason and "\n" not in reason and "debootstrap" in reason


def test_cli_as_unprivileged_user_prints_the_reason():
    if os.geteuid() != 0:
        pytest.fail(unavailable_reason(), pytrace=False)
    # A copy of the package in a world-readable place, run by a stdlib Python nobody can read.
    tmp = tempfile.mkdtemp(prefix="gce-cos-nobody-")
    try:
        os.chmod(tmp, 0o755)
        shutil.copytree(os.path.join(ROOT, "localgce", "vm"), os.path.join(tmp, "localgce", "vm"))
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-m",
                            "localgce.vm.image", "build"], cwd=tmp, capture_output=True, text=True,
                           env={"PATH": os.environ["PATH"], "GCE_COS_CACHE": "/nonexistent"})
    finally:
        shutil.rmtree(tmp)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == ["COS VM simulator unavailable: needs root (running as uid 65534)"]
