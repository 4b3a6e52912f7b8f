"""A TCP relay in front of localgce that a test can cut, to give the agent a real outage.

localgce's fault injection covers the Compute and Secret Manager APIs, not the guest
metadata server, so the agent tests put this relay between the agent's curl and localgce:
- ``down()`` closes the listening socket and every open connection (curl sees connection
  refused, or a reset in the middle of a long-poll); ``up()`` listens on the same port again;
- ``fault(path_regex, status, count, body, headers)`` answers the next ``count`` requests
  whose path matches with that HTTP status (and body and headers) instead of relaying them.
It relays bytes; it does not emulate anything.
"""

import contextlib
import re
import socket
import threading


class NetCut:
    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.lock = threading.Lock()
        self.conns = set()
        self.faults = []
        self.faulted = []
        self.listener = None
        self.port = 0
        self.up()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def up(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self):
        sock, self.listener = self.listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self.lock:
            conns, self.conns = list(self.conns), set()
        for c in conns:
            _close(c)

    def close(self):
        self.down()

    def fault(self, path_regex, status, count=1, body=b"injected by netcut\n", headers=None):
        with self.lock:
            self.faults.append([re.compile(path_regex), int(status), int(count), body, dict(headers or {})])

    def clear_faults(self):
        with self.lock:
            self.faults = []

    def _take_fault(self, path):
        with self.lock:
            for f in self.faults:
                if f[2] > 0 and f[0].search(path):
                    f[2] -= 1
                    self.faulted.append((path, f[1]))
                    return f
        return None

    def _accept(self, sock):
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *socks):
        with self.lock:
            self.conns.update(socks)

    def _serve(self, client):
        self._track(client)
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(65536)
                if not chunk:
                    _close(client)
                    return
                head += chunk
        except OSError:
            _close(client)
            return
        path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("latin-1") if b" " in head else ""
        fault = self._take_fault(path)
        if fault is not None:
            _, status, _, body, headers = fault
            extra = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items())
            client.sendall(b"HTTP/1.1 %d Injected\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s"
                           % (status, len(body), extra, body))
            _close(client)
            return
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            _close(client)
            return
        self._track(upstream)
        upstream.sendall(head)
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()
        _pipe(client, upstream)


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    _close(src)
    _close(dst)


def _close(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
