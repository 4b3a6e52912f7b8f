"""Container update time: the cos agent path against the stop/start path, in one run.

    python bench/vm_update_bench.py [--runs N]

localgce boots real VMs (localgce/vm, root needed); the test web image is pushed to its
local registry in two versions. Two instances run the v1 container:
  agent    deployed by playbooks/deploy.yml (the cos agent watches the metadata)
  restart  a plain #cloud-config VM whose container is in its user-data (cos_container
           apply: restart, as `gcloud compute instances update-container` did)
Each update (v1 -> v2 -> v1 ...) runs `ansible-playbook` with one cos_container task and is
timed from the start of the playbook until the new version answers over HTTP through the
VM's forwarded port (polled while the playbook runs; the time the playbook takes to finish
is printed too). The report gives both medians and their ratio, plus whether the VM
rebooted (boot id). The same playbook overhead (about 2 s of module start-up) is in both.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, ".build", "pythonpath"))

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE, LocalGCE  # noqa: E402
from localgce.vm import registry, unavailable_reason  # noqa: E402

VENV_BIN = os.path.dirname(sys.executable)

SETUP_RESTART = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - gce.cos.cos_instance:
        name: bench-restart
        zone: {zone}
        machine_type: e2-small
        user_data: "#cloud-config\\nwrite_files: []\\n"
    - gce.cos.cos_container:
        instance: bench-restart
        zone: {zone}
        apply: restart
        name: web
        image: "{{{{ image }}}}"
        ports: [80]
"""

UPDATE = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - gce.cos.cos_container:
        instance: "{{ instance }}"
        zone: %s
        apply: "{{ apply }}"
        name: web
        image: "{{ image }}"
        ports: [80]
""" % DEFAULT_ZONE

DEPLOY_VARS = {
    "cos_deploy_instance": {"name": "bench-agent", "zone": DEFAULT_ZONE, "machine_type": "e2-small"},
    "cos_deploy_containers": [{"name": "web", "image": "{{ image }}", "ports": [80]}],
}


def env(tmp):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GCE_", "GOOGLE_", "ANSIBLE_"))}
    e.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "pythonpath"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(tmp, "ansible-tmp"), "ANSIBLE_HOME": os.path.join(tmp, "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9",
        "GCP_PROJECT": DEFAULT_PROJECT, "GCP_AUTH_KIND": "accesstoken", "GCP_ACCESS_TOKEN": "bench",
        "PATH": VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    return e


def playbook(e, path, varfile=None, **extra):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), path, "-e", json.dumps(extra)]
    if varfile:
        cmd += ["-e", "@" + varfile]
    proc = subprocess.run(cmd, cwd=ROOT, env=e, capture_output=True, text=True, timeout=1200, check=False)
    if proc.returncode != 0:
        raise SystemExit("ansible-playbook %s failed:\n%s" % (path, (proc.stdout + proc.stderr)[-4000:]))


def start_playbook(e, path, **extra):
    cmd = [os.path.join(VENV_BIN, "ansible-playbook"), path, "-e", json.dumps(extra)]
    return subprocess.Popen(cmd, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_playbook(proc, path):
    out, _ = proc.communicate(timeout=1200)
    if proc.returncode != 0:
        raise SystemExit("ansible-playbook %s failed:\n%s" % (path, out[-4000:]))


def wait_body(url, want, tries=6000):
    for _ in range(tries):  # bounded by count
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.read().decode() == want:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("%s never answered %r" % (url, want))


def vm_info(srv, name):
    with urllib.request.urlopen(srv.url + "/_localgce/vms", timeout=60) as resp:
        return json.loads(resp.read())["instances"]["%s/%s/%s" % (DEFAULT_PROJECT, DEFAULT_ZONE, name)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="updates per path (default 2)")
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(reason)
        return 1
    tmp = tempfile.mkdtemp(prefix="gce-cos-update-bench-")
    srv = LocalGCE.start(vms=True)
    try:
        reg = srv.vms.registry
        for v in ("v1", "v2"):
            registry.push_web_image(reg, "web", v)
        e = dict(env(tmp), GCE_COS_API_ENDPOINT=srv.url)
        image = lambda v: reg.image("web", v)  # noqa: E731
        setup_restart = os.path.join(tmp, "setup-restart.yml")
        update = os.path.join(tmp, "update.yml")
        vars_file = os.path.join(tmp, "agent-vars.json")
        with open(setup_restart, "w") as f:
            f.write(SETUP_RESTART.format(zone=DEFAULT_ZONE))
        with open(update, "w") as f:
            f.write(UPDATE)
        with open(vars_file, "w") as f:
            json.dump(DEPLOY_VARS, f)
        print("setting up bench-agent (playbooks/deploy.yml) and bench-restart (apply: restart) ...", flush=True)
        playbook(e, "playbooks/deploy.yml", vars_file, image=image("v1"))
        playbook(e, setup_restart, image=image("v1"))
        srv.vms.backend.wait_idle()
        times = {"agent": [], "restart": []}
        reboots = {"agent": 0, "restart": 0}
        version = "v1"
        for i in range(args.runs):
            version = "v2" if version == "v1" else "v1"
            for path, name in (("agent", "bench-agent"), ("restart", "bench-restart")):
                url = "http://127.0.0.1:%s/" % vm_info(srv, name)["ports"]["80"]  # stable across stop/start
                wait_body(url, "web %s\n" % ("v1" if version == "v2" else "v2"))
                boot_before = vm_info(srv, name)["boot_id"]
                t0 = time.monotonic()
                # The clock stops when the new version answers, polled while the playbook runs
                # (cos_container's own wait for the agent's report is not counted).
                proc = start_playbook(e, update, instance=name, apply=path, image=image(version))
                wait_body(url, "web %s\n" % version)
                elapsed = time.monotonic() - t0
                finish_playbook(proc, update)
                done = time.monotonic() - t0
                srv.vms.backend.wait_idle()
                rebooted = vm_info(srv, name)["boot_id"] != boot_before
                reboots[path] += rebooted
                times[path].append(elapsed)
                print("run %d %-8s -> %s answering after %6.2f s, playbook done after %6.2f s (VM rebooted: %s)"
                      % (i + 1, path, version, elapsed, done, "yes" if rebooted else "no"), flush=True)
        agent, restart = statistics.median(times["agent"]), statistics.median(times["restart"])
        print("\ncontainer update, playbook start to new version answering (median of %d):" % args.runs)
        print("  agent path   (cos_container, metadata + cos agent)   %6.2f s   VM reboots: %d"
              % (agent, reboots["agent"]))
        print("  restart path (apply: restart, stop + start)          %6.2f s   VM reboots: %d"
              % (restart, reboots["restart"]))
        print("  ratio restart / agent                                %6.2f x" % (restart / agent))
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
