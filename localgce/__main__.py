"""python -m localgce serve --host 127.0.0.1 --port PORT [--state FILE] [--project P ...]
[--operation-delay S] [--require-auth] [--no-vms] [--vm-state DIR] [--vm-port N ...]"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

# What ``serve`` cannot answer a single API call without, checked before it listens.
DISCOVERY_PACKAGE = "google-api-python-client"


def missing_requirement():
    """None when the discovery document loads; else the one-line reason and fix."""
    from . import discovery

    try:
        discovery.get()
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        if os.environ.get("LOCALGCE_DISCOVERY"):
            return ("LOCALGCE_DISCOVERY=%s cannot be used as Compute Engine's discovery document (%s); point it "
                    "at a compute.v1.json, or unset it and install %s (pip install %s)"
                    % (os.environ["LOCALGCE_DISCOVERY"], exc, DISCOVERY_PACKAGE, DISCOVERY_PACKAGE))
        return ("the package %s is missing or incomplete (%s): localgce validates every request against the "
                "Compute Engine discovery document it ships. Install it into this Python: %s -m pip install %s "
                "(or set LOCALGCE_DISCOVERY to a compute.v1.json)"
                % (DISCOVERY_PACKAGE, exc.__class__.__name__, sys.executable, DISCOVERY_PACKAGE))
    return None


def stop_on_signals(server):
    """SIGTERM and SIGINT, any number of them, stop ``server`` once.

    The handler takes no lock (a handler runs between any two bytecodes of the main thread, which may hold
    the very lock it would need, e.g. inside ``threading.Event.set``): it writes a byte to a pipe. A thread
    started here reads it and calls ``server.shutdown()``, which blocks until ``serve_forever`` returns and
    so cannot run in the main thread.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def stopper():
        os.read(read_fd, 1)
        server.shutdown()

    threading.Thread(target=stopper, name="localgce-stop", daemon=True).start()

    def on_signal(signum, frame):
        with contextlib.suppress(OSError):  # a full pipe already holds a stop request
            os.write(write_fd, b"x")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m localgce", description="Local Compute Engine API emulator")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8089, help="0 picks a free port")
    serve.add_argument("--state", help="persist resources in this JSON file across restarts")
    serve.add_argument("--project", action="append", default=[],
                       help="projects that exist (repeatable); default: any project exists")
    serve.add_argument("--operation-delay", type=float, default=0.0,
                       help="seconds an operation takes from PENDING to DONE (default 0)")
    serve.add_argument("--require-auth", action="store_true",
                       help="answer 401 to API calls without a bearer token")
    serve.add_argument("--wait-timeout", type=float, default=120.0,
                       help="longest operations.wait long-poll, seconds (default 120, like GCE)")
    serve.add_argument("--no-vms", action="store_true",
                       help="API only: do not boot a VM per instance (the default boots them when the host can)")
    serve.add_argument("--vm-state", help="the VMs' state dir (persistent /var, disks); default: a temp dir")
    serve.add_argument("--vm-port", type=int, action="append", default=[],
                       help="VM port forwarded to a host loopback port (repeatable; default 80 and 8080)")
    args = parser.parse_args(argv)

    problem = missing_requirement()
    if problem:
        print("localgce: cannot start: " + problem, file=sys.stderr, flush=True)
        return 2

    from .server import start

    app, server, service = start(args.host, args.port, vms=not args.no_vms and "auto", vm_state=args.vm_state,
                                 vm_ports=args.vm_port, projects=args.project, operation_delay=args.operation_delay,
                                 state_file=args.state, require_auth=args.require_auth,
                                 wait_timeout=args.wait_timeout)
    if args.no_vms:
        app.vms_reason = "VMs disabled by --no-vms (API only)"
    elif service is None:
        app.vms_reason += "; running API-only"
    stop_on_signals(server)
    # The listening line comes first: scripts wait for it.
    print(f"localgce: listening on {app.base_url}", flush=True)
    if service:
        regs = service.describe()["registries"]
        print("localgce: instances boot COS VMs (GET %s/_localgce/vms); registries %s (anonymous), %s (user %s)"
              % (app.base_url, regs["public"]["address"], regs["private"]["address"], regs["private"]["username"]),
              flush=True)
    elif not args.no_vms:
        print(f"localgce: {app.vms_reason}", flush=True)
    from . import gcloud

    project = args.project[0] if args.project else "my-project"
    print("localgce: to look with gcloud (gcloud compute instances list, ...), paste:", flush=True)
    for line in gcloud.shell_lines(app.base_url, project):
        print("  " + line, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        try:
            app.close()  # may raise (e.g. the state file cannot be written)
        finally:
            if service:
                service.close()  # every VM off, registries stopped
            server.server_close()
    # Whoever read the listening line may have closed the pipe since.
    with contextlib.suppress(OSError):
        print("localgce: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
