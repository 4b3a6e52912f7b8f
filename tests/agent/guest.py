"""A guest for the agent tests: the agent's real scripts run by real bash and curl, with
stand-ins for systemctl, journalctl and docker on PATH (PID 1 is not systemd here).

The directories a VM would have (/etc/systemd/system, /var/lib/cos-agent, /run/cos-agent)
live under one temporary root; rendered units are run through $STUB_PATH_MAP so their
absolute paths (/usr/bin/docker, the fetch-secrets helper, the secrets dir) land there too.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from ansible_collections.gce.cos.plugins.module_utils._vm import cos_agent, vm_contract

STUBS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stubs")


class Guest:
    def __init__(self, root, metadata_url, secretmanager_url=None, **settings):
        self.root = str(root)
        self.bin = os.path.join(self.root, "var/lib/cos-agent/bin")
        self.stub_bin = os.path.join(self.root, "stub-bin")
        self.unit_dir = os.path.join(self.root, "etc/systemd/system")
        self.state_dir = os.path.join(self.root, "var/lib/cos-agent")
        self.secrets_dir = os.path.join(self.root, "run/cos-agent/secrets")
        self.stub_state = os.path.join(self.root, "stub-state")
        for d in (self.bin, self.stub_bin, self.unit_dir, self.stub_state):
            os.makedirs(d, exist_ok=True)
        self.agent = os.path.join(self.bin, "cos-agent")
        self.fetch_secrets = os.path.join(self.bin, "fetch-secrets")
        with open(self.agent, "w") as f:
            f.write(cos_agent.AGENT_SCRIPT)
        with open(self.fetch_secrets, "w") as f:
            f.write(cos_agent.FETCH_SECRETS_SCRIPT)
        for name in ("docker", "journalctl", "iptables", "iptables-restore"):
            os.symlink(os.path.join(STUBS, name), os.path.join(self.stub_bin, name))
        os.symlink(os.path.join(STUBS, "iptables"), os.path.join(self.stub_bin, "ip6tables"))
        wrapper = os.path.join(self.stub_bin, "systemctl")
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (sys.executable, os.path.join(STUBS, "systemctl.py")))
        os.chmod(wrapper, 0o755)
        path_map = [
            ("/usr/bin/docker", os.path.join(self.stub_bin, "docker")),
            (vm_contract.FETCH_SECRETS_PATH, self.fetch_secrets),
            (vm_contract.SECRETS_DIR, self.secrets_dir),
        ]
        self.env = {
            "PATH": self.stub_bin + ":/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "STUB_STATE": self.stub_state,
            "STUB_UNIT_DIR": self.unit_dir,
            "STUB_PATH_MAP": ":".join("%s=%s" % p for p in path_map),
            "COS_AGENT_METADATA_URL": metadata_url,
            "COS_AGENT_UNIT_DIR": self.unit_dir,
            "COS_AGENT_STATE_DIR": self.state_dir,
            "COS_AGENT_SECRETS_DIR": self.secrets_dir,
            "COS_AGENT_BACKOFF_MAX": "1",
            "COS_AGENT_SETTLE_SECONDS": "10",
        }
        if secretmanager_url:
            self.env["COS_AGENT_SECRETMANAGER_URL"] = secretmanager_url
        self.env.update({k: str(v) for k, v in settings.items()})
        self.proc = None
        self.log_path = os.path.join(self.root, "agent.log")

    # -- running the agent

    def run_once(self, timeout=120):
        return subprocess.run(["bash", self.agent, "--once"], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self):
        """The long-running watch loop, in its own process group (stopped by stop())."""
        self._log = open(self.log_path, "a")  # noqa: SIM115 - closed by stop()
        self.proc = subprocess.Popen(["bash", self.agent], env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self.proc

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        # curl children of the agent's group, if any survived it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        self.proc = None

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, predicate, timeout=30, what="condition"):
        """Poll a condition on the guest (bounded); the agent itself never sleep-polls."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError("agent exited (%s) while waiting for %s:\n%s" % (self.proc.returncode, what,
                                                                                     self.log()))
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s; agent log:\n%s" % (what, self.log()
                                                                                   if self.proc else ""))
            time.sleep(0.1)

    # -- what the stand-ins saw

    def calls(self):
        path = os.path.join(self.stub_state, "calls.log")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def clear_calls(self):
        open(os.path.join(self.stub_state, "calls.log"), "w").close()

    def lifecycle_calls(self):
        """systemctl calls that change something (not show)."""
        return [c for c in self.calls() if c.startswith("systemctl ") and not c.startswith("systemctl show")]

    def units(self):
        return sorted(n for n in os.listdir(self.unit_dir) if n.endswith(".service"))

    def unit_text(self, name):
        with open(os.path.join(self.unit_dir, vm_contract.unit_name(name)), "rb") as f:
            return f.read().decode("utf-8")

    def containers(self):
        d = os.path.join(self.stub_state, "containers")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def bad_image(self, ref):
        with open(os.path.join(self.stub_state, "bad_images"), "a") as f:
            f.write(ref + "\n")

    def journal(self, name):
        path = os.path.join(self.stub_state, "journal", vm_contract.unit_name(name) + ".log")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def version(self):
        return cos_agent.agent_version()

    def reboot_stubs(self):
        """What a reboot does to the stand-ins: units and containers gone, images kept."""
        for sub in ("units", "containers"):
            d = os.path.join(self.stub_state, sub)
            if os.path.isdir(d):
                for name in os.listdir(d):
                    os.remove(os.path.join(d, name))
