"""What a user pastes: the lines ``python -m localgce serve`` prints work in bash with the real gcloud.
And without gcloud, this suite fails with the reason (it never passes silently)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_the_printed_lines_aim_gcloud_at_localgce(tmp_path, gcloud_server):
    env = dict(os.environ, PYTHONPATH=ROOT, HOME=str(tmp_path))
    env = {k: v for k, v in env.items() if not k.startswith("CLOUDSDK_")}
    proc = subprocess.Popen([sys.executable, "-m", "localgce", "serve", "--port", "0", "--no-vms",
                             "--project", "paste-project"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "listening on" in proc.stdout.readline()
        assert "gcloud" in proc.stdout.readline()
        lines = []
        while not lines or "CLOUDSDK_COMPUTE_REGION" not in lines[-1]:  # the last line printed
            line = proc.stdout.readline()
            assert line.startswith("  "), (lines, line)
            lines.append(line.strip())
        script = "\n".join(lines) + "\nset -e\ngcloud compute zones list --format='value(name)'\n" \
                                    "gcloud config get-value project\n"
        out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120,
                             check=False)
        assert out.returncode == 0, out.stderr
        assert "us-central1-a" in out.stdout.split() and "paste-project" in out.stdout.split()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_without_gcloud_the_suite_fails_and_says_why(tmp_path, gcloud_server):
    env = dict(os.environ, PATH=str(tmp_path))  # no gcloud anywhere on it
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-q", "-p", "no:cacheprovider",
                          os.path.join(ROOT, "tests", "gcloud", "test_resources.py::test_firewall_rules")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode != 0, out.stdout
    assert re.search(r"gcloud is not on the PATH, so the gcloud suite cannot run", out.stdout), out.stdout
    assert "1 error" in out.stdout
