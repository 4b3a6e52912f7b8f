"""localgce with real VMs: the simulator backend plus two registries, as one switch.

    from localgce.testing import LocalGCE
    srv = LocalGCE.start(vms=True)       # or "auto" (API-only when the host cannot), False
    srv.vms.registry.image("web", "v1")  # 127.0.0.1:PORT/web:v1, the same name inside VMs
    srv.vms.describe()                   # what GET /_localgce/vms answers

``python -m localgce serve`` does the same by default (``--no-vms`` for API-only).

Two docker-registry processes on host loopback, both reachable from every VM at the same
address (the relay's host_ports): ``registry`` (anonymous, like Docker Hub for public
images) and ``private_registry`` (htpasswd; its password is also stored in localgce's
Secret Manager as ``projects/PROJECT/secrets/localgce-registry-password``, so a deploy can
``docker login`` the way the role does for third-party registries).
"""

import os
import secrets as _secrets
import shutil
import tempfile
import threading

from . import unavailable_reason
from .backend import SimulatorBackend
from .registry import Registry

DEFAULT_VM_PORTS = (80, 8080)
REGISTRY_SECRET = "localgce-registry-password"
REGISTRY_USER = "localgce"


def decide(vms):
    """(enabled, reason) for vms=True|False|"auto". True on a host that cannot raises."""
    if vms is False or vms is None:
        return False, "VMs disabled (API only)"
    reason = unavailable_reason()
    if reason is None:
        return True, None
    if vms == "auto":
        return False, reason
    from . import SimulatorUnavailable

    raise SimulatorUnavailable(reason)


class VmService:
    """The simulator backend, the registries and their state dir, started and stopped together."""

    def __init__(self, state_root=None, vm_ports=DEFAULT_VM_PORTS, registries=True, rootfs=None):
        self._own_root = state_root is None
        self.state_root = state_root or tempfile.mkdtemp(prefix="localgce-vms-")
        self.registry = self.private_registry = None
        try:
            if registries:
                self.registry = Registry(os.path.join(self.state_root, "registry"), name="public")
                self.private_registry = Registry(os.path.join(self.state_root, "private-registry"),
                                                 auth=(REGISTRY_USER, _secrets.token_urlsafe(12)), name="private")
            host_ports = [r.port for r in (self.registry, self.private_registry) if r]
            self.backend = SimulatorBackend(os.path.join(self.state_root, "vms"), port_forwards=list(vm_ports),
                                            host_ports=host_ports, rootfs=rootfs)
        except BaseException:
            self._close_registries()
            raise
        self.app = None
        self._closed = threading.Event()

    def bind(self, app):
        """Attach to a localgce App: the VMs' metadata server and Secret Manager, GET /_localgce/vms."""
        self.app = app
        self.backend.bind(app)
        app.vms = self
        return self

    def store_registry_secret(self, project):
        """Put the private registry's password into localgce's Secret Manager for PROJECT;
        returns the version reference (projects/P/secrets/S/versions/N)."""
        from .. import secrets as sm

        version = sm.add_version(self.app.store, project, REGISTRY_SECRET, self.private_registry.auth[1])
        return "projects/%s/secrets/%s/versions/%s" % (project, REGISTRY_SECRET, version)

    def describe(self):
        """GET /_localgce/vms: each instance's forwarded ports, shell command and boot id."""
        out = {"enabled": True, "state_dir": self.state_root, "instances": {}, "registries": {}}
        for label, reg in (("public", self.registry), ("private", self.private_registry)):
            if reg:
                out["registries"][label] = reg.describe()
        if self.private_registry:
            # A throwaway local registry: the control endpoint (loopback) shows its password, so
            # a user can store it (POST /_localgce/secrets) for the role's registry login.
            out["registries"]["private"]["password"] = self.private_registry.auth[1]
        with self.backend.lock:
            workers = list(self.backend.workers.items())
        for link, worker in workers:
            vm = worker.vm
            project, zone, name = link.split("/")[-5], link.split("/")[-3], link.rsplit("/", 1)[-1]
            entry = {
                "project": project, "zone": zone, "name": name, "selfLink": link,
                "running": vm.running(), "pid": vm.pid1,
                "ports": {str(p): h for p, h in sorted(vm.ports.items())},
                "urls": {str(p): "http://127.0.0.1:%d/" % h for p, h in sorted(vm.ports.items())},
                # The same VM ports at the VM's IPv6 address (each through its own host port).
                "ports6": {str(p): h for p, h in sorted(vm.ports6.items())},
                "shell": vm.shell_command() if vm.pid1 and vm.running() else None,
                "console": vm.console_path,
                "boot_id": None,
            }
            if vm.pid1 and vm.running() and worker.idle():
                try:
                    entry["boot_id"] = vm.boot_id()
                except Exception as exc:  # a VM going down meanwhile
                    entry["boot_id_error"] = str(exc)
            out["instances"]["%s/%s/%s" % (project, zone, name)] = entry
        return out

    def _close_registries(self):
        for reg in (self.registry, self.private_registry):
            if reg:
                reg.close()

    def close(self):
        """Power off every VM, stop the registries, and delete the state dir if it was a temp one."""
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self.backend.wait_idle(timeout=300)
            self.backend.close()
        finally:
            self._close_registries()
            if self._own_root:
                shutil.rmtree(self.state_root, ignore_errors=True)

