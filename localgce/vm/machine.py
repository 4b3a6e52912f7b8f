"""One simulated COS VM: systemd-nspawn booting the cached image with real systemd inside.

    vm = VirtualMachine("/var/lib/gce-cos/instances/123")      # state dir: persistent /var, /home
    vm.boot("123", "web-1", disks=[("data", "/path/data.img")],
            metadata_url="http://127.0.0.1:P/_localgce/guest/proj/zone/web-1",
            port_forwards=[80])
    vm.ports[80]            # host 127.0.0.1 port that reaches the VM's port 80 at its IPv4 address
    vm.ports6[80]           # host 127.0.0.1 port that reaches the VM's port 80 at its IPv6 address
    vm.wait_cloud_init()    # /run/cloud-init/result.json (never `cloud-init status --wait`)
    vm.reset()              # reboot: new /etc, cloud-init runs again, boot id changes
    vm.power_off()          # stop; frees loops, cgroups, relay, netns
    vm.destroy()            # also delete the persistent /var and /home (instance deleted)
    vm.logging.count("text")   # entries COS's logging agent would have shipped (logging_agent.py)

What a boot sets up on the host, and power_off() removes:
  - a network namespace `gcecos-<id>`, given to nspawn, and `gcecos-<id>-md` (the VM's network:
    metadata server at 169.254.169.254, and the peer the VM's ports are reached from), linked by a
    veth pair: the VM's interface gce0 has the instance's internal IPv4 address and an IPv6 one;
  - a relay process (relay.py) serving the metadata server and Secret Manager inside the network
    namespace, host loopback ports inside the VM, and host ports forwarded to VM ports at the VM's
    interface addresses (so they pass the VM's host firewall like traffic from the network);
  - one cgroup per v1 hierarchy (and the v2 one) `gce-cos/<id>`, entered before nspawn
    starts, so systemd's and dockerd's cgroups nest there;
  - a write-log process (writelog.py) and its FUSE mount /run/gce-cos-writelog/<key>, serving
    each disk image and the VM's stateful volume so that only flushed writes reach them;
  - a loop device per attached disk over its write-log file, bound at
    /dev/disk/by-id/google-<deviceName>;
  - the stateful volume (STATE/stateful.img, ext4): a loop device over its write-log file,
    mounted on STATE/stateful and bound at the agent's state dir, /var/lib/cos-agent;
  - the nspawn process (its console goes to <state>/console.log).
"""

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid

from . import image as image_mod
from . import reap, require_simulator
from . import relay as relay_mod
from .logging_agent import LoggingAgent

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
METADATA_IP = "169.254.169.254"
METADATA_PEER = "169.254.169.253"  # the VM's end of its link to the metadata server
METADATA_HOSTS = ("metadata.google.internal", "metadata", METADATA_IP)
# The VM's addresses on its network interface, reached from the network namespace (the "VPC"):
# the instance's internal IP (networkIP) when given, and a fixed IPv6 ULA (each VM has its own pair
# of namespaces, so the same addresses never collide).
DEFAULT_NETWORK_IP = "10.128.0.2"
VM_IPV6, VPC_IPV6 = "fd20:ce::2", "fd20:ce::1"
SECRET_HOSTS = ("secretmanager.googleapis.com",)
# Names the VM's VPC resolves to the relay (169.254.169.254), unless the VM's gcr.io is made
# unreachable; the relay answers them as gcr.io's registry does without credentials.
GCR_HOSTS = ("gcr.io",)
# The write log's FUSE mounts (writelog.py), one per running VM.
WRITELOG_ROOT = "/run/gce-cos-writelog"
# The VM's stateful volume: where the agent keeps its state (vm_contract.STATE_DIR), and its size.
STATEFUL_MOUNT = "/var/lib/cos-agent"
STATEFUL_MB = 64


class VMError(RuntimeError):
    pass


def _run(argv, check=True, **kw):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if check and proc.returncode != 0:
        raise VMError("%s: exit %d: %s" % (" ".join(argv), proc.returncode, proc.stdout.strip()))
    return proc.stdout


def _cgroup_roots():
    """(mount point, is v1 cpuset) of every cgroup hierarchy mounted on the host."""
    roots = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _src, opts = right.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                roots.append((left.split()[4], fstype == "cgroup" and "cpuset" in opts.split(",")))
    return roots


def _nspid(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def _rmtree_cgroup(path):
    """rmdir a cgroup and its children, deepest first (cgroup dirs only hold virtual files)."""
    if not os.path.isdir(path):
        return True
    for dirpath, dirs, _files in os.walk(path, topdown=False):
        for d in dirs:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(dirpath, d))
    try:
        os.rmdir(path)
    except OSError:
        return False
    return True


def _cgroup_pids(path):
    pids = []
    for dirpath, _dirs, _files in os.walk(path):
        try:
            with open(os.path.join(dirpath, "cgroup.procs")) as f:
                pids += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return pids


class VirtualMachine:
    """A COS-like VM booted with systemd-nspawn. state_dir keeps its persistent /var and /home."""

    def __init__(self, state_dir, rootfs=None):
        require_simulator()
        self.state_dir = os.path.abspath(state_dir)
        at = functools.partial(os.path.join, self.state_dir)
        self.var_dir = at("var")  # the persistent /var
        self.home_dir = at("home")  # the persistent /home
        self.vpc_hosts_path = at("vpc-hosts")
        self.stateful_image = at("stateful.img")  # the stateful volume (ext4), mounted at the agent's
        self.stateful_dir = at("stateful")  # state dir through the write log, and its mount point
        self.console_path = at("console.log")
        self.rootfs = rootfs
        self.key = uuid.uuid4().hex[:10]
        self.netns = None
        self.relay = None
        self.ports = {}
        self.ports6 = {}
        self.proc = None
        self.pid1 = None
        self.loops = []           # one per attached disk, in boot_args["disks"] order
        self.stateful_loop = None
        self.writelog = None      # the write-log process (writelog.py) while disks are attached
        self.writelog_dir = None  # its FUSE mount point
        self.cut = False          # power was cut: the write-log was killed, nothing more is flushed
        self.cgroups = []
        self.boot_args = None
        self.boots = 0
        self._console = None
        self._lock = threading.RLock()
        # COS's logging agent stand-in: ships the journal and json-file logs to STATE/cloud-logging.jsonl.
        self.logging = LoggingAgent(self.state_dir)

    # ----- paths
    @property
    def network_netns(self):
        """Path of the network namespace on the other end of the VM's interface (its "VPC")."""
        return "/run/netns/%s-md" % self.netns if self.netns else None

    @property
    def addresses(self):
        """The VM's IPv4 and IPv6 addresses on its interface, reachable from network_netns."""
        return (self.boot_args["network_ip"], VM_IPV6) if self.boot_args else None

    # ----- lifecycle
    def boot(self, instance_id, name, disks=(), metadata_url=None, secret_url=None,
             host_ports=(), port_forwards=(), network_ip=None, wait=True, timeout=180, gcr_reachable=True):
        """Boot the VM. Returns once systemd is up (running or degraded) when wait is true.

        disks: [(device_name, image_file)], each a file holding the disk's bytes.
        metadata_url: upstream prefix of the metadata server for this instance; requests to
            http://metadata.google.internal/computeMetadata/... go to metadata_url + path.
            cloud-init reads user-data there at every boot (instance/attributes/user-data, through
            its GCE datasource), as on COS: nothing is seeded from the host.
        secret_url: upstream for http(s)://secretmanager.googleapis.com (path appended).
        host_ports: host 127.0.0.1 ports reachable at 127.0.0.1:same-port inside the VM
            (e.g. a docker registry, so image names are the same on host and VM).
        gcr_reachable: False gives the VM no DNS and no route to gcr.io, as in a VPC without
            them: gcr-online.target is then never reached (as on COS). Read at every boot.
        port_forwards: VM ports, or (host_port, vm_port) pairs; host_port 0 picks a free
            one. self.ports maps vm_port -> host 127.0.0.1 port that reaches the port at the VM's
            IPv4 address (network_ip), self.ports6 at its IPv6 address (VM_IPV6); both arrive on
            the VM's interface, so the VM's host firewall decides.
        network_ip: the VM's internal IPv4 address (default DEFAULT_NETWORK_IP).
        """
        with self._lock:
            if self.running():
                raise VMError("VM %s is already running" % name)
            if not self.rootfs:
                self.rootfs = image_mod.build()
            self.boot_args = dict(instance_id=str(instance_id), name=name, disks=list(disks), metadata_url=metadata_url,
                                  secret_url=secret_url, host_ports=list(host_ports),
                                  port_forwards=list(port_forwards),
                                  network_ip=network_ip or DEFAULT_NETWORK_IP, gcr_reachable=bool(gcr_reachable))
            try:
                if self.netns is None:
                    self._setup_network()
                self._start()
            except BaseException:
                self._teardown(keep_network=False)
                raise
            self.logging.start()
        if wait:
            self.wait_until_up(timeout)
        return self

    def reset(self, timeout=180, wait=True, hard=False, while_off=None, disks=None):
        """Reboot: power off and boot again with the same settings.

        /etc is a fresh overlay and cloud-init state is cleared, so cloud-init applies the
        user-data again; /var, /home and disks persist; the network (ports) is kept.
        hard=True cuts the power (every process killed at once, nothing shut down); otherwise
        systemd powers off in order first. while_off(), if given, is called while the VM is
        off, its disks detached (a test reads what a cut left on them). disks, if given, replaces
        the boot's disk list (the disks attached now, as instances.reset boots with)."""
        with self._lock:
            if self.boot_args is None:
                raise VMError("reset before boot")
            if disks is not None:
                self.boot_args["disks"] = list(disks)
            if hard:
                self._power_cut()
            else:
                self._shutdown(timeout=60)
            self._teardown(keep_network=True)
            if while_off is not None:
                while_off()
            try:
                self._start()
            except BaseException:
                self._teardown(keep_network=False)
                raise
        if wait:
            self.wait_until_up(timeout)

    def power_off(self, timeout=60, container_stop_timeout=2):
        """Orderly shutdown (systemd poweroff), then kill after timeout; frees host resources.

        Running containers are first stopped with `docker stop -t container_stop_timeout`
        (None skips this, leaving docker's own 10 s default)."""
        with self._lock:
            self._shutdown(timeout, container_stop_timeout)
            self._teardown(keep_network=False)

    def cleanup(self):
        """Power off if needed and release everything on the host (keeps the state dir)."""
        self.power_off(timeout=30)

    def destroy(self):
        """cleanup() and delete the persistent /var and /home (the instance is deleted)."""
        self.cleanup()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    # ----- state
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def is_up(self):
        """systemd inside reached running or degraded."""
        if not self.running() or not self.pid1:
            return False
        out = self.exec(["systemctl", "is-system-running"], timeout=20)
        return out.stdout.strip() in ("running", "degraded")

    def system_state(self):
        if not self.running() or not self.pid1:
            return "stopped"
        return self.exec(["systemctl", "is-system-running"], timeout=20).stdout.strip() or "unknown"

    def wait_until_up(self, timeout=180):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Under the lock: a reset from another thread (kill, then boot again) is never seen
            # half done, as a VM that exited.
            with self._lock:
                alive = self.running()
                if alive and self.pid1 is None:
                    self.pid1 = self._find_pid1()
                pid1 = self.pid1
            if not alive:
                raise VMError("VM exited during boot (nspawn exit %s); console:\n%s"
                              % (self.proc.returncode if self.proc else None, self._console_tail()))
            if pid1 and self.is_up():
                return
            time.sleep(0.1)
        raise VMError("VM not up after %ss (state %s); console:\n%s"
                      % (timeout, self.system_state(), self._console_tail()))

    def cloud_init_result(self):
        """/run/cloud-init/result.json as a dict (None while cloud-init has not finished).

        The readiness check for cloud-init: on COS 121 and later `cloud-init status --wait` never
        exits 0, so nothing of ours uses it."""
        r = self.exec(["cat", "/run/cloud-init/result.json"], timeout=20)
        if r.returncode != 0:
            return None
        try:
            return json.loads(r.stdout)["v1"]
        except (ValueError, KeyError):
            return None  # being written

    def wait_cloud_init(self, timeout=180):
        """Wait until cloud-init has finished this boot; returns result.json's v1 (datasource, errors)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.cloud_init_result()
            if result is not None:
                return result
            time.sleep(0.2)
        raise VMError("cloud-init not finished after %ss; console:\n%s" % (timeout, self._console_tail()))

    def processes(self):
        """The VM's processes as the host sees them: [(host pid, host ppid, state letter, argv)]."""
        out = []
        for pid in (_cgroup_pids(self.cgroups[0]) if self.cgroups else []):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    stat = f.read()
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            except OSError:  # gone since the cgroup was read
                continue
            # comm may hold spaces and parentheses: the fields after it follow the last ")".
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            out.append((pid, int(ppid), state, argv))
        return out

    def boot_id(self):
        return self.exec(["cat", "/proc/sys/kernel/random/boot_id"], check=True).stdout.strip()

    def exec(self, argv, input=None, timeout=120, env=None, check=False, text=True):
        """Run argv inside the VM (all its namespaces) with a clean environment."""
        if not self.pid1:
            raise VMError("VM is not running")
        envs = ["PATH=" + PATH, "LANG=C.UTF-8", "HOME=/root", "TERM=dumb"]
        envs += ["%s=%s" % kv for kv in (env or {}).items()]
        cmd = ["nsenter", "-t", str(self.pid1), "-a", "--", "/usr/bin/env", "-i", *envs, *argv]
        proc = subprocess.run(cmd, input=input, capture_output=True, text=text,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise VMError("in VM: %s: exit %d: %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()))
        return proc

    def shell_command(self):
        """The command a person runs to get a shell inside the VM."""
        return "nsenter -t %s -a /bin/bash" % (self.pid1 or "<PID>")

    def serial_output(self):
        """Everything the VM printed on its console (all boots), as on a GCE serial port.

        journald forwards the journal to the console, so this includes cloud-init output."""
        try:
            with open(self.console_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def _console_tail(self, n=40):
        return "\n".join(self.serial_output().splitlines()[-n:])

    # ----- internals
    def _setup_network(self):
        ns = "gcecos-" + self.key
        _run(["ip", "netns", "add", ns])
        self.netns = ns
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # The metadata server sits in its own namespace behind a veth link, as on GCE where
        # 169.254.169.254 is not on the VM: then a container on the host network can listen
        # on 0.0.0.0:80 or :443 (on the VM's lo the relay's sockets would make that fail
        # with EADDRINUSE). Containers on docker's bridge reach it too (docker masquerades).
        md = ns + "-md"
        _run(["ip", "netns", "add", md])
        _run(["ip", "-n", md, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "link", "add", "gce0", "type", "veth", "peer", "name", "md0", "netns", md])
        _run(["ip", "-n", ns, "addr", "add", METADATA_PEER + "/30", "dev", "gce0"])
        _run(["ip", "-n", md, "addr", "add", METADATA_IP + "/30", "dev", "md0"])
        a = self.boot_args
        # The VM's internal addresses on the same link: /32 and /128 with a route each way, so
        # nothing else changes in the VM's routing (nodad: usable at once, no duplicate detection).
        vm_ip, vpc_ip = a["network_ip"], _vpc_address(a["network_ip"])
        _run(["ip", "-n", ns, "addr", "add", vm_ip + "/32", "dev", "gce0"])
        _run(["ip", "-n", md, "addr", "add", vpc_ip + "/32", "dev", "md0"])
        _run(["ip", "-n", ns, "-6", "addr", "add", VM_IPV6 + "/128", "dev", "gce0", "nodad"])
        _run(["ip", "-n", md, "-6", "addr", "add", VPC_IPV6 + "/128", "dev", "md0", "nodad"])
        _run(["ip", "-n", ns, "link", "set", "gce0", "up"])
        _run(["ip", "-n", md, "link", "set", "md0", "up"])
        _run(["ip", "-n", ns, "route", "add", vpc_ip + "/32", "dev", "gce0", "src", vm_ip])
        _run(["ip", "-n", md, "route", "add", vm_ip + "/32", "dev", "md0", "src", vpc_ip])
        _run(["ip", "-n", ns, "-6", "route", "add", VPC_IPV6 + "/128", "dev", "gce0", "src", VM_IPV6])
        _run(["ip", "-n", md, "-6", "route", "add", VM_IPV6 + "/128", "dev", "md0", "src", VPC_IPV6])
        routes = {}
        if a["metadata_url"]:
            routes.update({h: a["metadata_url"] for h in METADATA_HOSTS})
        if a["secret_url"]:
            routes.update({h: a["secret_url"] for h in SECRET_HOSTS})
        routes.update({h: relay_mod.REGISTRY_STAND_IN for h in GCR_HOSTS})
        forwards = []
        for pf in a["port_forwards"]:
            host_port, vm_port = (0, pf) if isinstance(pf, int) else pf
            forwards.append(["127.0.0.1", int(host_port), int(vm_port)])
        cfg = {
            "http_netns": "/run/netns/" + md,
            "http_routes": routes,
            "into_host": [["127.0.0.1", int(p), "127.0.0.1", int(p)] for p in a["host_ports"]],
            "into_vm": forwards,
            "vm_address": vm_ip,
            "vm_address6": VM_IPV6,
        }
        pki = os.path.join(image_mod.image_dir(self.rootfs), "pki")
        if os.path.exists(os.path.join(pki, "server.crt")):
            cfg["tls_cert"], cfg["tls_key"] = os.path.join(pki, "server.crt"), os.path.join(pki, "server.key")
        os.makedirs(self.state_dir, exist_ok=True)
        relay_log = open(os.path.join(self.state_dir, "relay.log"), "ab")  # noqa: SIM115 (closed below)
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.relay = subprocess.Popen(
            [os.environ.get("GCE_COS_PYTHON") or _python(), "-m", "localgce.vm.relay", "/run/netns/" + ns],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=relay_log, cwd=pkg_root, text=True,
            start_new_session=True,
        )
        relay_log.close()
        self.relay.stdin.write(json.dumps(cfg))
        self.relay.stdin.close()
        line = self.relay.stdout.readline()
        try:
            ready = json.loads(line)
        except ValueError:
            ready = {"ready": False, "error": line or "relay exited (see %s/relay.log)" % self.state_dir}
        if not ready.get("ready"):
            raise VMError("VM network relay failed: %s" % ready.get("error"))
        self.ports = {int(k): v for k, v in ready["into_vm"].items()}
        self.ports6 = {int(k): v for k, v in ready.get("into_vm6", {}).items()}

    def _prepare_state(self):
        """Persistent /var and /home (first boot copies the image's /var); cloud-init state cleared."""
        if not os.path.isdir(self.var_dir):
            tmp = self.var_dir + ".new"
            shutil.rmtree(tmp, ignore_errors=True)
            _run(["cp", "-a", os.path.join(self.rootfs, "usr/share/gce-cos-var-template"), tmp])
            os.rename(tmp, self.var_dir)
        os.makedirs(self.home_dir, exist_ok=True)
        for d in ("lib/docker", "lib/cloud", "lib/google", "lib/toolbox"):
            os.makedirs(os.path.join(self.var_dir, d), exist_ok=True)
        # COS: /etc is new each boot, so cloud-init must run again: drop its state, keep logs.
        cloud = os.path.join(self.var_dir, "lib/cloud")
        for entry in os.listdir(cloud):
            path = os.path.join(cloud, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        # No seed: cloud-init's GCE datasource reads user-data from the metadata server at every
        # boot, as on COS (the image's cloud.cfg.d/90_gce_cos.cfg).
        # The VPC's DNS: gcr.io resolves (to the relay) unless this VM's gcr.io is unreachable.
        with open(self.vpc_hosts_path, "w") as f:
            if self.boot_args.get("gcr_reachable", True):
                f.write("".join("%s %s\n" % (METADATA_IP, h) for h in GCR_HOSTS))

    def _setup_cgroups(self):
        rel = "gce-cos/%s-%d" % (self.key, self.boots)
        for root, cpuset in _cgroup_roots():
            parent = os.path.join(root, "gce-cos")
            path = os.path.join(root, rel)
            os.makedirs(path, exist_ok=True)
            self.cgroups.append(path)
            if cpuset:  # a v1 cpuset cgroup accepts no task until cpus and mems are set
                for d in (parent, path):
                    for knob in ("cpuset.cpus", "cpuset.mems"):
                        with open(os.path.join(root, knob)) as src, open(os.path.join(d, knob), "w") as dst:
                            dst.write(src.read().strip())

    def _attach_disks(self):
        """Disks and the stateful volume, each a loop device over its write-log file (writelog.py)."""
        for device_name, path in self.boot_args["disks"]:
            if not os.path.exists(path):
                raise VMError("disk image %s for %s does not exist" % (path, device_name))
        self._make_stateful()
        images = [("stateful", self.stateful_image)]
        images += [("disk-" + name, os.path.abspath(path)) for name, path in self.boot_args["disks"]]
        self._start_writelog(images)
        stateful = _run(["losetup", "--find", "--show", os.path.join(self.writelog_dir, "stateful")]).strip()
        self.stateful_loop = stateful
        # COS checks its stateful partition at boot; a cut leaves a journal to replay.
        subprocess.run(["e2fsck", "-p", stateful], capture_output=True, check=False)
        os.makedirs(self.stateful_dir, exist_ok=True)
        _run(["mount", "-t", "ext4", stateful, self.stateful_dir])
        binds = ["--bind=%s:%s" % (self.stateful_dir, STATEFUL_MOUNT)]
        for device_name, _path in self.boot_args["disks"]:
            loop = _run(["losetup", "--find", "--show", os.path.join(self.writelog_dir, "disk-" + device_name)]).strip()
            self.loops.append(loop)
            binds.append("--bind=%s:/dev/disk/by-id/google-%s" % (loop, device_name))
        return binds

    def _make_stateful(self):
        """First boot: a blank ext4 stateful volume, holding what /var/lib/cos-agent held before."""
        if os.path.exists(self.stateful_image):
            return
        tmp = self.stateful_image + ".new"
        with open(tmp, "wb") as f:
            f.truncate(STATEFUL_MB << 20)
        argv = ["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "cos-stateful"]
        old = os.path.join(self.var_dir, STATEFUL_MOUNT[len("/var/"):])
        if os.path.isdir(old) and os.listdir(old):
            argv += ["-d", old]
        _run([*argv, tmp])
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.rename(tmp, self.stateful_image)

    def _start_writelog(self, images):
        path = os.path.join(WRITELOG_ROOT, "%s-%d" % (self.key, self.boots))
        os.makedirs(path, exist_ok=True)
        log = open(os.path.join(self.state_dir, "writelog.log"), "ab")  # noqa: SIM115 (closed below)
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.writelog = subprocess.Popen(
            [os.environ.get("GCE_COS_PYTHON") or _python(), "-m", "localgce.vm.writelog", path,
             "gce-cos-writelog-" + self.key, *("%s=%s" % i for i in images)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=pkg_root, start_new_session=True)
        log.close()
        self.writelog_dir = path
        self.cut = False
        deadline = time.monotonic() + 30
        while not _mounted(path):
            if self.writelog.poll() is not None or time.monotonic() > deadline:
                raise VMError("write-log for the VM's disks did not start (see %s/writelog.log)" % self.state_dir)
            time.sleep(0.02)

    def _kill_writelog(self):
        """Power cut: the pending writes go with the process; the kernel aborts its FUSE connection."""
        if self.writelog is not None and self.writelog.poll() is None:
            self.writelog.kill()
            self.writelog.wait()
        self.cut = True

    def _stop_disks(self, errors):
        """Unmount the stateful volume, detach the loops, then flush (orderly) or drop (after a cut)."""
        _unmount(self.stateful_dir, errors)
        for loop in [*self.loops, *([self.stateful_loop] if self.stateful_loop else [])]:
            if subprocess.run(["losetup", "-d", loop], capture_output=True).returncode != 0:
                errors.append("loop %s" % loop)
        self.loops = []
        self.stateful_loop = None
        if self.writelog_dir is None:
            return
        if not self.cut and self.writelog is not None and self.writelog.poll() is None:
            for name in os.listdir(self.writelog_dir):
                fd = os.open(os.path.join(self.writelog_dir, name), os.O_RDONLY)
                try:
                    os.fsync(fd)  # the write log applies everything: an orderly power off loses nothing
                finally:
                    os.close(fd)
        # After a cut the connection is aborted (stat answers ENOTCONN): read mountinfo, not stat.
        _unmount(self.writelog_dir, errors)
        if self.writelog is not None:
            # It exits once the kernel releases the mount (a lazy unmount waits for the last loop
            # reference to go). Everything was flushed above and the loops are detached, so a
            # write log still there after a while has nothing left to lose: it is killed.
            reap(self.writelog)
            self.writelog = None
        with contextlib.suppress(OSError):
            os.rmdir(self.writelog_dir)
        self.writelog_dir = None

    def _start(self):
        a = self.boot_args
        self.boots += 1
        self.pid1 = None
        self._prepare_state()
        binds = self._attach_disks()
        self._setup_cgroups()
        # A reboot loses the kernel's netfilter rules: the VM's network namespace outlives a
        # reset, so empty it, and the boot's iptables-setup starts from nothing, as on COS.
        _run(["ip", "netns", "exec", self.netns, "nft", "flush", "ruleset"])
        machine_uuid = uuid.uuid5(uuid.NAMESPACE_URL, "gce-cos:" + a["instance_id"])
        argv = [
            "systemd-nspawn", "-D", self.rootfs, "--boot", "--register=no", "--keep-unit",
            "--network-namespace-path=/run/netns/" + self.netns,
            "--capability=all", "--system-call-filter=@keyring",
            "--read-only", "--overlay=+/etc::/etc",
            "--bind=%s:/var" % self.var_dir, "--bind=%s:/home" % self.home_dir,
            "--tmpfs=/mnt/disks:mode=0755,noexec", "--tmpfs=/tmp:mode=1777,nosuid,nodev,noexec",
            "--machine=" + _machine_name(a["name"]), "--uuid=" + str(machine_uuid),
            "--console=read-only", "--bind-ro=%s:/run/gce-cos/vpc-hosts" % self.vpc_hosts_path, *binds,
        ]
        # Enter our own cgroups before exec'ing nspawn, so everything it starts nests there.
        procs = " ".join(os.path.join(p, "cgroup.procs") for p in self.cgroups)
        wrapper = 'for f in %s; do echo $$ > "$f" || exit 1; done; exec "$@"' % procs
        self._console = open(self.console_path, "ab")  # noqa: SIM115 (kept for the VM's life)
        self._console.write(("\n===== gce-cos simulator: boot %d of %s (%s) =====\n"
                             % (self.boots, a["name"], time.strftime("%Y-%m-%dT%H:%M:%S%z"))).encode())
        self._console.flush()
        self.proc = subprocess.Popen(["sh", "-c", wrapper, "sh", *argv], stdin=subprocess.DEVNULL,
                                     stdout=self._console, stderr=self._console, start_new_session=True)

    def _find_pid1(self):
        """Host PID of the VM's init: a process of our cgroup whose PID in its namespace is 1."""
        if not self.cgroups:
            return None
        for pid in _cgroup_pids(self.cgroups[0]):
            ns = _nspid(pid)
            if len(ns) > 1 and ns[-1] == 1:
                return pid
        return None

    def _power_cut(self):
        """Kill the VM's PID 1 at once (that kills its PID namespace): nothing inside shuts down.

        First the write log dies with its pending writes, so what the dying VM's filesystems
        write back as they are unmounted never reaches a disk: only flushed writes survive."""
        if not self.running():
            return
        self._kill_writelog()
        self._kill_init(self.pid1 or self._find_pid1())

    def _kill_init(self, pid1):
        """SIGKILL the VM's init (which kills everything in its PID namespace), then reap nspawn."""
        if pid1:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGKILL)
        reap(self.proc)

    def _shutdown(self, timeout, container_stop_timeout=2):
        if not self.running():
            return
        pid1 = self.pid1 or self._find_pid1()
        if pid1 and container_stop_timeout is not None:
            # Containers get a short stop timeout (docker's default, 10 s, would dominate a
            # power off whenever PID 1 of a container ignores SIGTERM, as busybox httpd does).
            with contextlib.suppress(subprocess.TimeoutExpired, VMError):
                self.exec(["/bin/sh", "-c", 'ids=$(docker ps -q 2>/dev/null); [ -z "$ids" ] || docker stop -t %d $ids'
                           % container_stop_timeout], timeout=container_stop_timeout + 20)
        if pid1:
            with contextlib.suppress(ProcessLookupError):  # SIGRTMIN+4: systemd's orderly poweroff
                os.kill(pid1, signal.SIGRTMIN + 4)
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout)
            return
        except subprocess.TimeoutExpired:
            pass
        self._kill_init(pid1)

    def _teardown(self, keep_network):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.pid1 = None
        for path in self.cgroups:
            for pid in _cgroup_pids(path):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        errors = []
        for path in reversed(self.cgroups):
            for _ in range(50):
                if _rmtree_cgroup(path):
                    break
                time.sleep(0.1)
            else:
                errors.append("cgroup %s" % path)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.dirname(path))  # the shared gce-cos parent, once empty
        self.cgroups = []
        self._stop_disks(errors)
        if self._console is not None:
            self._console.close()
            self._console = None
        if not keep_network:
            self.logging.stop()
            if self.relay is not None:
                self.relay.terminate()
                reap(self.relay)
                self.relay.stdout.close()
                self.relay = None
            if self.netns is not None:
                for ns in (self.netns, self.netns + "-md"):  # the veth pair goes with them
                    if os.path.exists("/run/netns/" + ns) and \
                            subprocess.run(["ip", "netns", "del", ns], capture_output=True).returncode != 0:
                        errors.append("netns %s" % ns)
                self.netns = None
            self.ports = {}
            self.ports6 = {}
        if errors:
            raise VMError("teardown left: " + ", ".join(errors))


def _vpc_address(vm_ip):
    """The network side's IPv4 address on the VM's link: the subnet gateway (.1), or .2 when the VM is .1."""
    head, last = vm_ip.rsplit(".", 1)
    return "%s.%s" % (head, 2 if last == "1" else 1)


def _mounted(path):
    """path is a mount point (from mountinfo: stat fails on an aborted FUSE mount)."""
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def _unmount(path, errors):
    """Unmount path if it is mounted, lazily when it is busy; a failure is added to ``errors``."""
    if _mounted(path) and \
            subprocess.run(["umount", path], capture_output=True).returncode != 0 and \
            subprocess.run(["umount", "-l", path], capture_output=True).returncode != 0:
        errors.append("mount %s" % path)


def _machine_name(name):
    # nspawn wants a valid hostname; GCE instance names already are (RFC 1035, <= 63 chars).
    return (name or "instance")[:63]


def _python():
    import sys

    return sys.executable


def create_disk(path, size_gb=1):
    """A blank persistent disk: a sparse file of size_gb GiB (no-op if it exists)."""
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.truncate(int(size_gb * (1 << 30)))
    return path
