"""For `make demo`: wait until a deployed container answers over HTTP, and say how to look inside.

    from localgce.vm.demo_support import wait_for_http
    info = wait_for_http("http://127.0.0.1:8089", "nginx-demo")       # or a LocalGCE handle
    print(info["url"], info["body"][:80])
    for line in info["commands"]: print("  " + line)

Works against any localgce with VMs (in-process or `python -m localgce serve`), through its
public endpoints only: GET /_localgce/vms and the Compute API.
"""

import json
import time
import urllib.error
import urllib.request

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE


class DemoError(RuntimeError):
    pass


def _get_json(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


def wait_for_http(localgce, instance, port=80, path="/", project=DEFAULT_PROJECT, zone=DEFAULT_ZONE,
                  tries=600, pause=0.5):
    """Poll the instance's forwarded VM port until GET path answers 200 (bounded by `tries`).

    Returns {"url", "status", "body", "boot_id", "shell", "commands": [lines to print]}.
    Raises DemoError saying why (VMs disabled, no such instance, never answered)."""
    base = localgce if isinstance(localgce, str) else localgce.url
    base = base.rstrip("/")
    key = "%s/%s/%s" % (project, zone, instance)
    last = "no answer yet"
    url = None
    for _ in range(tries):
        doc = _get_json(base + "/_localgce/vms")
        if not doc.get("enabled"):
            raise DemoError("localgce runs without VMs: %s" % doc.get("reason"))
        entry = doc["instances"].get(key)
        if entry and str(port) in entry["ports"]:
            url = "http://127.0.0.1:%s%s" % (entry["ports"][str(port)], path)
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    body = resp.read().decode(errors="replace")
                    return _result(base, project, zone, instance, url, resp.status, body, entry)
            except (OSError, urllib.error.HTTPError) as exc:
                last = str(exc)
        else:
            last = "instance %s has no VM (yet)" % key
        time.sleep(pause)
    raise DemoError("%s never answered over HTTP (%s): %s" % (instance, url or "no port", last))


def _result(base, project, zone, instance, url, status, body, entry):
    serial = "curl -s %s/compute/v1/projects/%s/zones/%s/instances/%s/serialPort | python3 -c " \
             "'import json,sys; print(json.load(sys.stdin)[\"contents\"])'" % (base, project, zone, instance)
    commands = [
        "curl %s" % url,
        "%s               # a root shell in the VM (as root on this host)" % entry["shell"],
        "%s docker ps" % entry["shell"].rsplit(" ", 1)[0],
        "%s journalctl -u cos-agent --no-pager" % entry["shell"].rsplit(" ", 1)[0],
        serial + "   # the serial port",
        "less %s          # the same console, from the host" % entry["console"],
    ]
    return {"url": url, "status": status, "body": body, "boot_id": entry.get("boot_id"),
            "shell": entry["shell"], "commands": commands}


def push_demo_image(localgce, repo="web", version="v1"):
    """Push the test web server image to the public registry of a running localgce.

    The examples name public images (nginx:1.27) that cannot be pulled offline; the demo
    runs the same deployment with this image instead. Returns the image reference, the
    same name on the host and inside the VMs."""
    from .registry import Registry, push_web_image

    base = localgce if isinstance(localgce, str) else localgce.url
    doc = _get_json(base.rstrip("/") + "/_localgce/vms")
    if not doc.get("enabled"):
        raise DemoError("localgce runs without VMs: %s" % doc.get("reason"))

    class _Running(Registry):
        """A registry localgce started, reached by address: push only, never started or stopped here."""

        def __init__(self, address):  # pylint: disable=super-init-not-called
            self.name, self.address, self.auth = "public", address, None

    registry = _Running(doc["registries"]["public"]["address"])
    push_web_image(registry, repo, version)
    return registry.image(repo, version)
