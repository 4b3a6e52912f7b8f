"""A whole deploy with and without the API helper, measured in one run.

Starts an API-only localgce (``python -m localgce serve --no-vms``) and runs
``playbooks/deploy.yml -e @examples/nginx.yml`` (cos_deploy_wait=false: no VM runs the agent)
with cos_deploy_api_helper=false (each task imports google-cloud-compute) and true (one helper
process per play), alternately, R rounds. Each round times a first converge on a reset server
(creates) and a re-run (the no-op converge of an estate that is already right). It prints the
medians, the ratio helper/plain, and the mutating requests of each path (they must be equal).

Usage: .venv/bin/python bench/deploy_bench.py [--rounds R] [--example nginx]
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, ROOT)

import conftest  # noqa: E402,F401 - links the collection under .build/pythonpath


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_localgce():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localgce", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-vms"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    for line in proc.stdout:
        if "listening on" in line:
            return proc, re.search(r"http://\S+", line).group(0)
    raise SystemExit("localgce did not start")


def control(url, path, method="GET"):
    req = urllib.request.Request(url + "/_localgce/" + path, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def deploy(env, example, helper):
    cmd = [os.path.join(BIN, "ansible-playbook"), os.path.join(ROOT, "playbooks", "deploy.yml"),
           "-e", "@" + os.path.join(ROOT, "examples", example + ".yml"),
           "-e", "cos_deploy_wait=false", "-e", "cos_deploy_api_helper=%s" % str(helper).lower()]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--example", default="nginx")
    args = parser.parse_args()

    proc, url = start_localgce()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GCE_", "GOOGLE_", "ANSIBLE_"))}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "pythonpath"),
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            ANSIBLE_LOCALHOST_WARNING="false",
            ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
            GCE_COS_API_ENDPOINT=url,
            GCE_METADATA_HOST="127.0.0.1:9",
            GCP_AUTH_KIND="accesstoken",
            GCP_ACCESS_TOKEN="bench",
            GCP_PROJECT="my-project",
        )
        times = {False: {"create": [], "rerun": []}, True: {"create": [], "rerun": []}}
        mutating = {False: set(), True: set()}
        for _ in range(args.rounds):
            for helper in (False, True):
                control(url, "reset", "POST")
                times[helper]["create"].append(deploy(env, args.example, helper))
                mutating[helper].add(len(control(url, "requests?mutating=true")))
                times[helper]["rerun"].append(deploy(env, args.example, helper))
    finally:
        proc.terminate()
        proc.wait()

    print("playbooks/deploy.yml -e @examples/%s.yml, API-only localgce (median of %d rounds)"
          % (args.example, args.rounds))
    for phase in ("create", "rerun"):
        plain, fast = statistics.median(times[False][phase]), statistics.median(times[True][phase])
        label = "first converge (creates)" if phase == "create" else "re-run (no change)     "
        print("  %s  plain %.2f s  (baseline)   API helper %.2f s  = %.2fx plain"
              % (label, plain, fast, fast / plain))
    print("  mutating requests of a first converge: plain %s, API helper %s"
          % (sorted(mutating[False]), sorted(mutating[True])))


if __name__ == "__main__":
    main()
