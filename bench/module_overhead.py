"""Per-task overhead of a gce.cos module against ansible.builtin.ping, measured in one run.

Runs a playbook of N tasks of gce.cos.cos_instance_info (one GET against localgce each),
once on the plain path (GCE_COS_API_HELPER=0: every task imports google-cloud-compute) and
once through the API helper (GCE_COS_API_HELPER=1: the play's helper process holds the
imported clients; its start-up is part of the figure), and one of N ansible.builtin.ping
tasks, and prints the seconds per task and their ratios. It also times the import of
google.cloud.compute_v1 in full against the lazy import the plain path uses, which is the
floor of every task on that path.

The helper path keeps the compiled code of the collection's module_utils across tasks and plays
(plugins/module_utils/_api_helper/code_cache.py), so its figures are those of a user's plays after the first
one: the bench also times the play of N tasks with an empty code cache (a private directory of its
own), as the first play after an install, an upgrade or a reboot runs.

It also times the helper path with the code cache off (GCE_COS_CODE_CACHE=0), against the cache
in the same round: what the cache saves a task.

It also prints the cost of each task after the first (a play of N tasks minus a play of one,
over N-1), for ping and the helper: what a task costs once the play's helper runs.

With --kinds it prints that per-task cost for one no-op task of every module (a read, or
state=absent of a resource that does not exist; cos_container removes an absent container of a
VM the play creates first), each against ping in the same round: the modules differ in how much
of the collection they import, which every task compiles again (AnsiballZ ships sources only).

Usage: .venv/bin/python bench/module_overhead.py [--tasks N] [--rounds R] [--kinds]
"""

import argparse
import os
import shutil
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


# One no-op task of each module on the helper path (after SETUP, which both plays of a kind run).
KINDS = {
    "cos_instance_info": "gce.cos.cos_instance_info: {zone: us-central1-a, name: absent-vm}",
    "cos_instance": "gce.cos.cos_instance: {zone: us-central1-a, name: absent-vm, state: absent}",
    "cos_container": "gce.cos.cos_container: {zone: us-central1-a, instance: bench-vm, name: web, state: absent}",
    "cos_disk": "gce.cos.cos_disk: {zone: us-central1-a, name: absent-disk, state: absent}",
    "cos_firewall": "gce.cos.cos_firewall: {name: absent-fw, state: absent}",
    "cos_instance_template": "gce.cos.cos_instance_template: {name_prefix: absent-t, state: absent}",
    "cos_instance_group": "gce.cos.cos_instance_group: {zone: us-central1-a, name: absent-g, state: absent}",
    "cos_health_check": "gce.cos.cos_health_check: {name: absent-hc, state: absent}",
}
SETUP = "gce.cos.cos_instance: {zone: us-central1-a, name: bench-vm}"


def playbook(task, n, setup=None):
    body = "".join("    - %s\n" % t for t in ([setup] if setup else []) + [task] * n)
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


def per_kind(args, env, helper_env, ping, ping_one):
    """{module: ([seconds per additional task], [ratio to ping's])}: plays of N and of 1 task, minus."""
    plays = {name: (playbook(task, args.tasks, SETUP), playbook(task, 1, SETUP)) for name, task in KINDS.items()}
    kinds = {name: ([], []) for name in KINDS}
    try:
        for _ in range(args.rounds):
            more_ping = (run_playbook(ping, env) - run_playbook(ping_one, env)) / (args.tasks - 1)
            for name, (many, one) in plays.items():
                more = (run_playbook(many, helper_env) - run_playbook(one, helper_env)) / (args.tasks - 1)
                kinds[name][0].append(more)
                kinds[name][1].append(more / more_ping)
    finally:
        for many, one in plays.values():
            os.unlink(many)
            os.unlink(one)
    return kinds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", action="store_true", help="also the per-task cost of every module")
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
        plain_env = dict(env, GCE_COS_API_HELPER="0")
        helper_env = dict(env, GCE_COS_API_HELPER="1")
        task = "gce.cos.cos_instance_info: {zone: us-central1-a, name: absent-vm}"
        module, module_one = playbook(task, args.tasks), playbook(task, 1)
        ping, ping_one = playbook("ansible.builtin.ping:", args.tasks), playbook("ansible.builtin.ping:", 1)
        run_playbook(ping, env)  # warm caches
        nocache_env = dict(helper_env, GCE_COS_CODE_CACHE="0")
        pings, modules, helpers, ping_more, helper_more, colds = [], [], [], [], [], []
        nocaches, nocache_more = [], []
        for _ in range(args.rounds):
            whole_ping = run_playbook(ping, env)
            pings.append(whole_ping / args.tasks)
            ping_more.append((whole_ping - run_playbook(ping_one, env)) / (args.tasks - 1))
            modules.append(run_playbook(module, plain_env) / args.tasks)
            whole_helper = run_playbook(module, helper_env)
            helpers.append(whole_helper / args.tasks)
            helper_more.append((whole_helper - run_playbook(module_one, helper_env)) / (args.tasks - 1))
            whole_nocache = run_playbook(module, nocache_env)
            nocaches.append(whole_nocache / args.tasks)
            nocache_more.append((whole_nocache - run_playbook(module_one, nocache_env)) / (args.tasks - 1))
            fresh = tempfile.mkdtemp(prefix="gcb", dir="/tmp")  # short: the helper's socket lives there
            try:
                colds.append(run_playbook(module, dict(helper_env, XDG_RUNTIME_DIR=fresh)) / args.tasks)
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
        gets = [r for r in server.requests() if r["method"] == "GET"]
        kinds = per_kind(args, env, helper_env, ping, ping_one) if args.kinds else {}
        for path in (module, module_one, ping, ping_one):
            os.unlink(path)
    finally:
        server.stop()

    full = statistics.median(import_time("import google.cloud.compute_v1") for _ in range(3))
    lazy = statistics.median(
        import_time(
            "from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import _compute_package; "
            "import importlib; _compute_package(); "
            "importlib.import_module('google.cloud.compute_v1.services.instances')"
        )
        for _ in range(3)
    )
    ping_s, module_s, helper_s = statistics.median(pings), statistics.median(modules), statistics.median(helpers)
    print("per-task seconds (median of %d rounds x %d tasks)" % (args.rounds, args.tasks))
    print("  ansible.builtin.ping                          %.3f s  (baseline)" % ping_s)
    print("  gce.cos.cos_instance_info (GET), plain path   %.3f s  = %.2fx ping" % (module_s, module_s / ping_s))
    print("  gce.cos.cos_instance_info (GET), API helper   %.3f s  = %.2fx ping" % (helper_s, helper_s / ping_s))
    cold_s = statistics.median(colds)
    print("  the same, empty code cache (a first play)     %.3f s  = %.2fx ping" % (cold_s, cold_s / ping_s))
    nocache_s = statistics.median(nocaches)
    print("  the same, code cache off (GCE_COS_CODE_CACHE=0) %.3f s  = %.2fx ping, %.2fx with the cache"
          % (nocache_s, nocache_s / ping_s, nocache_s / helper_s))
    more_ping, more_helper = statistics.median(ping_more), statistics.median(helper_more)
    print("per additional task (N tasks minus 1 task, over N-1: without the helper's start-up)")
    print("  ansible.builtin.ping                          %.3f s  (baseline)" % more_ping)
    print("  gce.cos.cos_instance_info (GET), API helper   %.3f s  = %.2fx ping"
          % (more_helper, more_helper / more_ping))
    more_nocache = statistics.median(nocache_more)
    print("  the same, code cache off                      %.3f s  = %.2fx ping, %.2fx with the cache"
          % (more_nocache, more_nocache / more_ping, more_nocache / more_helper))
    print("  API requests per task: %.1f" % (len(gets) / (args.rounds * (4 * args.tasks + 2))))
    if kinds:
        print("per additional task of each module, API helper (median of %d rounds, against ping's in each)"
              % args.rounds)
        for name, ratios in kinds.items():
            print("  %-40s %.3f s  = %.2fx ping" % ("gce.cos." + name, statistics.median(ratios[0]),
                                                    statistics.median(ratios[1])))
    print("import of compute_v1")
    print("  full package import             %.3f s  (baseline)" % full)
    print("  lazy import, instances only     %.3f s  = %.2fx full" % (lazy, lazy / full))


if __name__ == "__main__":
    main()
