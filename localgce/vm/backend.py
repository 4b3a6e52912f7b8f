"""localgce's VM backend hook (localgce/backend.py) backed by the COS VM simulator.

    from localgce.vm.backend import SimulatorBackend
    backend = SimulatorBackend("/var/lib/gce-cos", port_forwards=[80], host_ports=[registry_port])
    srv = LocalGCE.start(backend=backend)          # or App(backend=backend)
    backend.bind(srv.app)                          # where the metadata server and Secret Manager are

Each instance gets a VirtualMachine with state under STATE/instances/PROJECT/ZONE/NAME and its
non-boot disks as sparse files under STATE/disks/PROJECT/ZONE/DISK.img (they outlive the
instance, as PDs do). The hook is called with localgce's store lock held, so every action
is queued to a per-instance worker thread and the call returns at once; ``ready()`` is
true once the latest boot has started the VM (its guest still booting), as a Compute Engine
instance is RUNNING as soon as its VM starts, before the guest OS is up. A boot that failed is
ready too, as a GCE VM whose guest is broken is still RUNNING: the error is in the serial
output. After starting the VM, the worker watches the guest come up (systemd running or
degraded) until another action is queued, so a failed boot still lands in the serial output.
A reset (a hard reset, as instances.reset) boots with the instance's current disks; the guest
reads the current metadata from the metadata server at every boot.
``endpoints()`` gives each instance's forwarded ports for tests and demos.
"""

import os
import queue
import threading
import time
import traceback

from .machine import VirtualMachine, VMError, create_disk
from .relay import NetNS


def _where(instance):
    parts = instance["selfLink"].split("/")
    return parts[-5], parts[-3], parts[-1]


def _watch_boot(w, timeout=180):
    """In the worker, after the VM started: wait for its guest to be up, for the serial output's
    sake (and so that vm.pid1 is known), but give way at once to a queued action (a reset or stop
    of a VM whose guest is still booting)."""
    deadline = time.monotonic() + timeout
    while w.queue.empty():
        try:
            w.vm.wait_until_up(timeout=min(2, max(0.1, deadline - time.monotonic())))
            return
        except VMError:
            if not w.vm.running() or time.monotonic() >= deadline:
                raise


def _metadata(instance):
    return {i["key"]: i.get("value", "") for i in (instance.get("metadata") or {}).get("items", [])}


class _Worker:
    def __init__(self, vm, after=()):
        self.vm = vm
        # Workers of a deleted instance of the same name: its VM (state dir, machine name) must
        # be gone before this one boots, as when a group recreates a member under its name.
        self.after = list(after)
        self.queue = queue.Queue()
        self.pending = 0
        self.lock = threading.Lock()
        self.error = ""
        self.host_ports = {}  # vm port -> host port of the last boot
        self.key = None  # the instance's selfLink
        self.staging = False  # a boot is queued or running and has not started the VM yet
        self.thread = threading.Thread(target=self._loop, daemon=True, name="gce-cos-vm")
        self.thread.start()

    def submit(self, fn):
        with self.lock:
            self.pending += 1
        self.queue.put(fn)

    def idle(self):
        with self.lock:
            return self.pending == 0

    def _loop(self):
        for prior in self.after:
            prior.thread.join()
        self.after = []
        while True:
            fn = self.queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                self.error = "gce-cos simulator error:\n" + traceback.format_exc()
            finally:
                with self.lock:
                    self.pending -= 1


class SimulatorBackend:
    def __init__(self, state_root="/var/lib/gce-cos", port_forwards=(80,), host_ports=(), rootfs=None,
                 base_url=None):
        self.state_root = state_root
        self.port_forwards = list(port_forwards)
        self.host_ports = list(host_ports)
        self.rootfs = rootfs
        self._base_url = base_url
        self._app = None
        self.workers = {}
        self.retired = []  # workers of deleted instances, until their last action is done
        self.lock = threading.Lock()
        # Instance names (or "*" for all) whose VPC has no DNS or route to gcr.io, from their
        # next boot on: gcr-online.target is then never reached in them, as on COS.
        self.gcr_unreachable = set()

    def bind(self, app):
        """Take the metadata server / Secret Manager base URL from a localgce App."""
        self._app = app
        return self

    @property
    def base_url(self):
        return self._base_url or (self._app.base_url if self._app else None)

    def _worker(self, instance, create=True):
        key = instance["selfLink"]
        with self.lock:
            w = self.workers.get(key)
            if w is None and create:
                project, zone, name = _where(instance)
                vm = VirtualMachine(os.path.join(self.state_root, "instances", project, zone, name), self.rootfs)
                prior = [r for r in self.retired if r.key == key and r.thread.is_alive()]
                w = self.workers[key] = _Worker(vm, after=prior)
                w.key = key
            return w

    def _disk_paths(self, instance, auto_delete_only=False):
        """[(device name, image file)] of the non-boot disks (the boot disk is the COS image itself)."""
        project, zone, _ = _where(instance)
        out = []
        for ad in instance.get("disks", []):
            if ad.get("boot") or (auto_delete_only and not ad.get("autoDelete")):
                continue
            disk_name = (ad.get("source") or ad["deviceName"]).rsplit("/", 1)[-1]
            out.append((ad["deviceName"], os.path.join(self.state_root, "disks", project, zone, disk_name + ".img")))
        return out

    def _disks(self, instance):
        """[(device name, image file, size GB)] of the non-boot disks."""
        sizes = [int(ad.get("diskSizeGb") or 10) for ad in instance.get("disks", []) if not ad.get("boot")]
        return [(device, path, size)
                for (device, path), size in zip(self._disk_paths(instance), sizes, strict=True)]

    # ----- the hook
    def boot(self, instance):
        project, zone, name = _where(instance)
        # The VM's ports are reached on host loopback, so its ephemeral external address is
        # 127.0.0.1 (called with the store lock held). localgce draws ephemeral addresses
        # from 34.x; an address the user reserved is left alone.
        for nic in instance.get("networkInterfaces") or []:
            for ac in nic.get("accessConfigs") or []:
                if str(ac.get("natIP", "")).startswith("34."):
                    ac["natIP"] = "127.0.0.1"
        base = self.base_url
        args = dict(
            instance_id=str(instance["id"]), name=name,
            metadata_url="%s/_localgce/guest/%s/%s/%s" % (base, project, zone, name) if base else None,
            secret_url=base, host_ports=self.host_ports,
            network_ip=next((nic.get("networkIP") for nic in instance.get("networkInterfaces") or []
                             if nic.get("networkIP")), None),
            gcr_reachable=not ({name, "*"} & self.gcr_unreachable),
        )
        disks = self._disks(instance)
        w = self._worker(instance)
        w.error = ""
        w.staging = True

        def run():
            try:
                # In the worker: a deleted instance of the same name deletes its disks' files first.
                for _device, path, size in disks:
                    create_disk(path, size)
                args["disks"] = [(device, path) for device, path, _size in disks]
                # Keep an instance's host ports across stop/start, so its URLs stay the same
                # (a fresh port only if the old one was taken meanwhile).
                wanted = [(w.host_ports.get(p, 0), p) for p in self.port_forwards]
                try:
                    w.vm.boot(**args, port_forwards=wanted, wait=False)
                except VMError:
                    if not any(h for h, _ in wanted) or w.vm.running():
                        raise
                    w.vm.boot(**args, port_forwards=self.port_forwards, wait=False)
                w.host_ports = dict(w.vm.ports)
            finally:
                w.staging = False  # the VM runs (RUNNING), or its boot failed
            _watch_boot(w)

        w.submit(run)

    def power_off(self, instance):
        w = self._worker(instance, create=False)
        if w:
            w.submit(w.vm.power_off)

    def reset(self, instance):
        w = self._worker(instance, create=False)
        if w:
            # instances.reset is a hard reset: no clean shutdown of the guest OS. The guest boots
            # with the disks attached now (one attached or detached since the last boot) and
            # reads the current metadata from the metadata server.
            disks = self._disks(instance)

            def run():
                for _device, path, size in disks:
                    create_disk(path, size)
                w.vm.reset(hard=True, wait=False, disks=[(device, path) for device, path, _size in disks])
                _watch_boot(w)

            w.submit(run)

    def delete(self, instance):
        with self.lock:
            w = self.workers.pop(instance["selfLink"], None)
            if w:
                self.retired.append(w)
        if w:
            w.submit(w.vm.destroy)
            # Disks deleted with the instance go with their data (a recreated member's
            # non-stateful disks start blank; kept ones had autoDelete turned off).
            doomed = [path for _device, path in self._disk_paths(instance, auto_delete_only=True)]

            def delete_disks():
                for path in doomed:
                    if os.path.exists(path):
                        os.unlink(path)

            w.submit(delete_disks)
            w.queue.put(None)

    def probe_socket(self, instance):
        """(socket factory, address) for a health check of the instance's VM: the factory gives an
        unconnected TCP socket in the network at the other end of the VM's interface, and the
        address is the VM's internal IPv4 address (what Google's probers reach, from outside the
        VM: the VM's host firewall must accept the port), not a host port forward. None while it
        is down."""
        w = self._worker(instance, create=False)
        path = w.vm.network_netns if w is not None and w.vm.running() else None
        if path is None:
            return None

        def factory():
            ns = NetNS(path)
            try:
                return ns.socket()
            finally:
                ns.close()

        return factory, w.vm.addresses[0]

    def ready(self, instance):
        """True once the latest boot started the VM (or failed): the instance is RUNNING."""
        w = self._worker(instance, create=False)
        return w is None or not w.staging

    def serial_output(self, instance):
        w = self._worker(instance, create=False)
        if w is None:
            return None
        return w.vm.serial_output() + w.error

    # ----- for tests and demos
    def vm(self, instance_or_self_link):
        key = instance_or_self_link if isinstance(instance_or_self_link, str) else instance_or_self_link["selfLink"]
        w = self.workers.get(key)
        return w.vm if w else None

    def endpoints(self):
        """{selfLink: {"name", "ports": {vm_port: "127.0.0.1:host_port"}, "shell": nsenter command}}."""
        with self.lock:
            items = list(self.workers.items())
        return {
            link: {"name": link.rsplit("/", 1)[-1],
                   "ports": {p: "127.0.0.1:%d" % h for p, h in w.vm.ports.items()},
                   "shell": w.vm.shell_command() if w.vm.pid1 else None}
            for link, w in items
        }

    def wait_idle(self, timeout=300):
        """Block until every queued action finished (for shutdown and tests)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                self.retired = [w for w in self.retired if not w.idle()]
                busy = [w for w in [*self.workers.values(), *self.retired] if not w.idle()]
            if not busy:
                return True
            time.sleep(0.05)
        return False

    def close(self):
        """Power off every VM and stop the workers (the VMs' state dirs stay)."""
        with self.lock:
            workers, self.workers = list(self.workers.values()), {}
            retired, self.retired = self.retired, []
        for w in workers:
            w.submit(w.vm.cleanup)
            w.queue.put(None)
        for w in workers + retired:
            w.thread.join(120)
