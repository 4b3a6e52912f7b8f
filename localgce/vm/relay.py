"""The network plumbing between one simulated VM and the host's loopback.

Runs as its own process on the host (``python -m localgce.vm.relay NETNS_PATH < config.json``),
started and stopped by machine.py. It opens listening or connecting sockets *inside* the
VM's network namespace with setns() on one thread, then carries bytes in the host's
namespace, so nothing runs inside the VM and all traffic stays on loopback or in the VM's
namespace. Three kinds of relay:

- ``http``: an HTTP proxy listening at 169.254.169.254:80 (and :443 with the simulator's
  TLS cert) in the metadata namespace (``http_netns``), which a veth pair links to the VM's.
  It routes by Host header to an upstream URL prefix, e.g.
  metadata.google.internal -> http://127.0.0.1:P/_localgce/guest/PROJ/ZONE/INST and
  secretmanager.googleapis.com -> http://127.0.0.1:P; gcr.io -> REGISTRY_STAND_IN is answered
  by the relay itself, as a registry that wants credentials.
- ``into_host``: a VM address:port that reaches the same host loopback port (a registry).
- ``into_vm``: a host 127.0.0.1 port that reaches a VM port (port forwarding). With
  ``vm_address`` (and ``vm_address6``) the relay connects from the metadata namespace, the
  network side of the VM's veth, to that address of the VM: the connection arrives on the VM's
  interface and its host firewall decides, as for traffic from the VPC. Each port gets a second
  host port reaching the VM's IPv6 address. Without ``vm_address`` it connects to the VM's
  127.0.0.1.

When everything listens it prints one JSON line
{"ready": true, "into_vm": {VMPORT: HOSTPORT}, "into_vm6": {VMPORT: HOSTPORT}}.
"""

import contextlib
import ctypes
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import urllib.parse

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_setns_lock = threading.Lock()
# How long a forwarded connection waits for the VM to accept: a firewall that drops the SYN
# never answers, and the host-side client then sees its connection closed with no reply.
CONNECT_TIMEOUT = 15

# A route to this answers as a registry that wants credentials (the stand-in for gcr.io).
REGISTRY_STAND_IN = "stand-in:registry"
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "host", "content-length",
}


def _setns(fd):
    if hasattr(os, "setns"):
        os.setns(fd, CLONE_NEWNET)
    elif _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class NetNS:
    """Create sockets inside another network namespace (setns is per thread)."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)
        self.home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        with _setns_lock:
            _setns(self.fd)
            try:
                return socket.socket(family, kind)
            finally:
                _setns(self.home)

    def close(self):
        for fd in (self.fd, self.home):
            with contextlib.suppress(OSError):
                os.close(fd)


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def _splice(a, b):
    t = threading.Thread(target=_pump, args=(b, a), daemon=True)
    t.start()
    _pump(a, b)
    t.join()
    a.close()
    b.close()


def _listen(sock, addr, port):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((addr, port))
    sock.listen(64)
    return sock


def _serve_tcp(listener, connect):
    def accept_loop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return

            def handle(conn=conn):
                try:
                    peer = connect()
                except OSError:
                    conn.close()
                    return
                _splice(conn, peer)

            threading.Thread(target=handle, daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()


class _Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes = {}
    tls = False

    def setup(self):
        if self.tls:  # handshake here, in the request thread, not in the accept loop
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def _forward(self):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        upstream = self.routes.get(host) or self.routes.get("default")
        body = self._body()
        if not upstream:
            self._reply(503, b"no upstream for host %s in the COS simulator\n" % host.encode())
            return
        if upstream == REGISTRY_STAND_IN:
            self._registry_stand_in()
            return
        url = urllib.parse.urlsplit(upstream)
        conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=900)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-Host"] = self.headers.get("Host", "")
        headers["X-Forwarded-Proto"] = "https" if self.tls else "http"
        try:
            conn.request(self.command, url.path.rstrip("/") + self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            self._reply(502, ("upstream %s unreachable: %s\n" % (upstream, exc)).encode())
            return
        finally:
            conn.close()
        self.send_response_only(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _registry_stand_in(self):
        """What gcr.io's registry answers without credentials (enough for gcr-wait-online)."""
        data = b'{"errors":[{"code":"UNAUTHORIZED","message":"COS simulator stand-in for gcr.io"}]}\n'
        self.send_response_only(401)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("WWW-Authenticate", 'Bearer realm="https://gcr.io/v2/token",service="gcr.io"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _reply(self, status, data):
        self.send_response_only(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = do_HEAD = _forward


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, sock, handler):
        socketserver.BaseServer.__init__(self, sock.getsockname(), handler)
        self.socket = sock


def _serve_http(sock, routes, tls_ctx=None):
    handler = type("Proxy", (_Proxy,), {"routes": routes, "tls": tls_ctx is not None})
    if tls_ctx is not None:
        sock = tls_ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
    server = _Server(sock, handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(netns_path, cfg):
    ns = NetNS(netns_path)
    # The metadata server's own namespace (linked to the VM's by a veth pair), else the VM's.
    http_ns = NetNS(cfg["http_netns"]) if cfg.get("http_netns") else ns
    addr = cfg.get("http_address", "169.254.169.254")
    routes = {k.lower(): v for k, v in cfg.get("http_routes", {}).items()}
    _serve_http(_listen(http_ns.socket(), addr, 80), routes)
    if cfg.get("tls_cert"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cfg["tls_cert"], cfg["tls_key"])
        _serve_http(_listen(http_ns.socket(), addr, 443), routes, ctx)
    for vm_addr, port, host_addr, host_port in cfg.get("into_host", []):
        _serve_tcp(_listen(ns.socket(), vm_addr, port),
                   lambda a=host_addr, p=host_port: socket.create_connection((a, p)))
    targets = [("into_vm", ns, socket.AF_INET, "127.0.0.1")]
    if cfg.get("vm_address"):
        targets = [("into_vm", http_ns, socket.AF_INET, cfg["vm_address"])]
        if cfg.get("vm_address6"):
            targets.append(("into_vm6", http_ns, socket.AF_INET6, cfg["vm_address6"]))
    mappings = {}
    for key, from_ns, family, vm_addr in targets:
        mapping = mappings[key] = {}
        for host_addr, host_port, vm_port in cfg.get("into_vm", []):
            listener = _listen(socket.socket(), host_addr, host_port if key == "into_vm" else 0)
            mapping[str(vm_port)] = listener.getsockname()[1]

            def connect(p=vm_port, from_ns=from_ns, family=family, vm_addr=vm_addr):
                s = from_ns.socket(family)
                s.settimeout(CONNECT_TIMEOUT)
                try:
                    s.connect((vm_addr, p))
                except OSError:
                    s.close()
                    raise
                s.settimeout(None)
                return s

            _serve_tcp(listener, connect)
    print(json.dumps({"ready": True, **mappings}), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    while not stop.wait(3600):
        pass


def main(argv):
    if len(argv) != 1:
        print("usage: python -m localgce.vm.relay NETNS_PATH < config.json", file=sys.stderr)
        return 2
    cfg = json.load(sys.stdin)
    try:
        run(argv[0], cfg)
    except OSError as exc:
        print(json.dumps({"ready": False, "error": str(exc)}), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
