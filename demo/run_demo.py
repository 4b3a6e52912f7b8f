"""make demo: deploy examples/nginx.yml with playbooks/deploy.yml against localgce, show the result, stop.

    python demo/run_demo.py [--example examples/nginx.yml] [--keep-going]

Needs no GCP account: localgce (python -m localgce serve) plays the Compute Engine API on
127.0.0.1. Steps:
  1. start localgce on a free port and wait for its "listening on" line;
  2. run ansible-playbook playbooks/deploy.yml -e @EXAMPLE with the environment a user would set
     (GCE_COS_API_ENDPOINT, GCP_PROJECT, GCP_AUTH_KIND=accesstoken, GCP_ACCESS_TOKEN);
  3. show the instance, its metadata keys, the firewall rule and the cos agent's reports (guest
     attributes) as the API returns them;
  4. stop localgce (SIGTERM to the PID this script started).

With the VM simulator: when localgce boots real COS-like VMs, set cos_deploy_wait=true
(VM_SIMULATOR below) and show_http() curls the container through the forwarded port.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # localgce.vm.demo_support, from this checkout
BIN = os.path.dirname(sys.executable)
PROJECT = "demo-project"
TOKEN = "demo-token"
# GCE_COS_DEMO_VM=0 runs the demo API-only even where localgce can boot VMs.
VM_WANTED = os.environ.get("GCE_COS_DEMO_VM", "1") != "0"


def say(text):
    print("\n== %s" % text, flush=True)


def collection_path():
    """The collection must be importable as ansible_collections.gce.cos (the root conftest.py does the same)."""
    build = os.path.join(ROOT, ".build", "pythonpath")
    link = os.path.join(build, "ansible_collections", "gce", "cos")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
    return build


def start_localgce():
    vms = [] if VM_WANTED else ["--no-vms"]
    proc = subprocess.Popen([sys.executable, "-m", "localgce", "serve", "--host", "127.0.0.1", "--port", "0", *vms],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        print("   " + line.rstrip(), flush=True)
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            return proc, m.group(1)
    stop_localgce(proc)
    sys.exit("localgce did not start (no 'listening on' line)")


def stop_localgce(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    rest = proc.stdout.read() if proc.stdout else ""
    for line in rest.splitlines():
        print("   " + line, flush=True)


def api(url, path):
    req = urllib.request.Request("%s/compute/v1/projects/%s/%s" % (url, PROJECT, path),
                                 headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def show_state(url, spec):
    inst_spec = spec["cos_deploy_instance"]
    zone, name = inst_spec["zone"], inst_spec["name"]
    inst = api(url, "zones/%s/instances/%s" % (zone, name))
    say("instance %s (GET instances/%s)" % (name, name))
    print("   status:       %s" % inst["status"])
    print("   machine type: %s" % inst["machineType"].rsplit("/", 1)[-1])
    print("   labels:       %s" % json.dumps(inst.get("labels", {}), sort_keys=True))
    print("   tags:         %s" % ", ".join(inst.get("tags", {}).get("items", [])))
    items = {i["key"]: i["value"] for i in inst.get("metadata", {}).get("items", [])}
    print("   metadata keys:")
    for key in sorted(items):
        value = items[key]
        if key == "user-data":
            shown = "#cloud-config, %d bytes (disk units, registry logins, docker settings, cos agent)" % len(value)
        elif key.startswith("cos-container-"):
            image = re.search(r'"image":"([^"]+)"', value)
            shown = "systemd unit for the cos agent, image %s" % (image.group(1) if image else "?")
        else:
            shown = value
        print("     %-28s %s" % (key, shown))
    rule = api(url, "global/firewalls/%s-ports" % name)
    if rule:
        ports = ["%s/%s" % (p, a["IPProtocol"]) for a in rule.get("allowed", []) for p in a.get("ports", [])]
        sources = ", ".join(rule.get("sourceRanges", []))
        targets = ", ".join(rule.get("targetTags", []))
        say("firewall rule %s: %s from %s to tag %s" % (rule["name"], ", ".join(ports), sources, targets))
    attrs = api(url, "zones/%s/instances/%s/getGuestAttributes?queryPath=cos-agent/" % (zone, name)) or {}
    reports = attrs.get("queryValue", {}).get("items", [])
    say("cos agent reports (guest attributes cos-agent/*)")
    if not reports:
        print("   none: localgce runs API-only here, so no VM boots and no agent reports")
    for item in reports:
        print("   %s: %s" % (item["key"], item["value"]))
    return inst


def vms_enabled(url):
    with urllib.request.urlopen(url + "/_localgce/vms", timeout=30) as resp:
        doc = json.loads(resp.read())
    if not doc.get("enabled"):
        print("   localgce runs API-only here (%s): the deployment is shown, no VM boots" % doc.get("reason"))
    return bool(doc.get("enabled"))


def offline_example(path, image, workdir):
    """The example with its images replaced by the local test image (public images cannot be pulled offline)."""
    import yaml

    with open(path) as f:
        spec = yaml.safe_load(f)
    for container in spec["cos_deploy_containers"]:
        print("   %s: %s -> %s (served by localgce's registry)" % (container["name"], container["image"], image))
        container["image"] = image
    out = os.path.join(workdir, os.path.basename(path))
    with open(out, "w") as f:
        yaml.safe_dump(spec, f)
    return out, spec


def show_http(url, spec):
    """Wait until the container answers through the VM's forwarded port, and say how to look inside."""
    from localgce.vm.demo_support import wait_for_http

    name = spec["cos_deploy_instance"]["name"]
    declared = [p for c in spec["cos_deploy_containers"] for p in c.get("ports", [])]
    for port in sorted({int(str(p).split("/", maxsplit=1)[0]) for p in declared}):
        info = wait_for_http(url, name, port=port, project=PROJECT, zone=spec["cos_deploy_instance"]["zone"])
        say("the container answers: GET %s -> HTTP %s %r" % (info["url"], info["status"], info["body"].strip()[:80]))
        print("   boot id %s; to look inside while localgce runs (python demo/run_demo.py --keep):" % info["boot_id"])
        for line in info["commands"]:
            print("     " + line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--example", default=os.path.join("examples", "nginx.yml"))
    parser.add_argument("--keep", action="store_true", help="keep localgce and the VM running until Enter")
    args = parser.parse_args()

    import yaml  # from the venv: ansible-core depends on it

    with open(os.path.join(ROOT, args.example)) as f:
        spec = yaml.safe_load(f)

    say("starting localgce (python -m localgce serve)")
    proc, url = start_localgce()
    workdir = tempfile.mkdtemp(prefix="gce-cos-demo-")
    try:
        example = args.example
        vms = VM_WANTED and vms_enabled(url)
        if vms:
            from localgce.vm.demo_support import push_demo_image

            say("pushing the test web image to localgce's registry")
            example, spec = offline_example(os.path.join(ROOT, args.example), push_demo_image(url), workdir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GCE_", "GOOGLE_"))}
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": collection_path(),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "GCE_COS_API_ENDPOINT": url,
            "GCP_PROJECT": PROJECT,
            "GCP_AUTH_KIND": "accesstoken",
            "GCP_ACCESS_TOKEN": TOKEN,
            # google.auth must not look for a real metadata server.
            "GCE_METADATA_HOST": "127.0.0.1:9",
            "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
        })
        cmd = [os.path.join(BIN, "ansible-playbook"), "playbooks/deploy.yml", "-e", "@" + example,
               "-e", "cos_deploy_wait=%s" % str(vms).lower()]
        say("GCE_COS_API_ENDPOINT=%s GCP_PROJECT=%s GCP_AUTH_KIND=accesstoken %s" % (url, PROJECT, " ".join(cmd[1:])))
        rc = subprocess.run(cmd, cwd=ROOT, env=env, check=False).returncode
        if rc != 0:
            print("\nansible-playbook failed (exit %d)" % rc)
            return rc
        show_state(url, spec)
        if vms:
            show_http(url, spec)
        say("the same playbook against a real project: unset GCE_COS_API_ENDPOINT and authenticate with ADC, "
            "a key file (GCP_AUTH_KIND=serviceaccount GCP_SERVICE_ACCOUNT_FILE=...) or an AWX GCE credential; "
            "see docs/docsite/rst/guide_deploy.rst")
        if args.keep:
            input("\nlocalgce keeps running at %s; press Enter to stop it " % url)
        return 0
    finally:
        say("stopping localgce")
        stop_localgce(proc)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
