"""Per-task overhead of a gce.cos module against ansible.builtin.ping, measured in one run.

Runs a playbook of N tasks of gce.cos.cos_instance_info (one GET against localgce each)
and one of N ansible.builtin.ping tasks, and prints the seconds per task and their ratio.
It also times the import of google.cloud.compute_v1 in full against the lazy import the
collection uses, since that import is the known floor of every task (FACTS.md section 3).

Usage: .venv/bin/python bench/module_overhead.py [--tasks N] [--rounds R]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, ROOT)

import conftest  # noqa: E402,F401 - links the collection under .build/pythonpath
from localgce.testing import LocalGCE  # noqa: E402

PLAY = """
- hosts: localhost
  gather_facts: false
  connection: local
  tasks:
{tasks}
"""


def playbook(task, n):
    body = "".join("    - %s\n" % task for _ in range(n))
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        handle.write(PLAY.format(tasks=body))
    return handle.name


def run_playbook(path, env):
    start = time.perf_counter()
    subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", path], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_time(statement):
    code = "import time, sys; sys.path.insert(0, %r); import conftest; t=time.perf_counter(); %s; " \
           "print(time.perf_counter()-t)" % (ROOT, statement)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    server = LocalGCE.start()
    try:
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "pythonpath"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            GCE_COS_API_ENDPOINT=server.url,
            GCP_AUTH_KIND="accesstoken",
            GCP_ACCESS_TOKEN="bench",
            GCP_PROJECT="bench-project",
        )
        module = playbook("gce.cos.cos_instance_info: {zone: us-central1-a, name: absent-vm}", args.tasks)
        ping = playbook("ansible.builtin.ping:", args.tasks)
        run_playbook(ping, env)  # warm caches
        pings, modules = [], []
        for _ in range(args.rounds):
            pings.append(run_playbook(ping, env) / args.tasks)
            modules.append(run_playbook(module, env) / args.tasks)
        gets = [r for r in server.requests() if r["method"] == "GET"]
        os.unlink(module)
        os.unlink(ping)
    finally:
        server.stop()

    full = statistics.median(import_time("import google.cloud.compute_v1") for _ in range(3))
    lazy = statistics.median(
        import_time(
            "from ansible_collections.gce.cos.plugins.module_utils.gcp_client import _compute_package; "
            "import importlib; _compute_package(); "
            "importlib.import_module('google.cloud.compute_v1.services.instances')"
        )
        for _ in range(3)
    )
    ping_s, module_s = statistics.median(pings), statistics.median(modules)
    print("per-task seconds (median of %d rounds x %d tasks)" % (args.rounds, args.tasks))
    print("  ansible.builtin.ping            %.3f s  (baseline)" % ping_s)
    print("  gce.cos.cos_instance_info (GET) %.3f s  = %.2fx ping" % (module_s, module_s / ping_s))
    print("  API requests per task: %.1f" % (len(gets) / (args.rounds * args.tasks)))
    print("import of compute_v1")
    print("  full package import             %.3f s  (baseline)" % full)
    print("  lazy import, instances only     %.3f s  = %.2fx full" % (lazy, lazy / full))


if __name__ == "__main__":
    main()
