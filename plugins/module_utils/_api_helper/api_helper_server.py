# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The API helper process: google-cloud-compute imported once per play, clients kept across tasks.

Started by the first module of a play that has ``GCE_COS_API_HELPER`` on (api_helper_client.py),
with this code sent over its stdin. It listens on a 0600 unix socket in the user's 0700
directory, answers only processes of its own uid (SO_PEERCRED), serves each connection (one
module run) in its own thread, and keeps one ComputeApi client cache per (credentials,
project, endpoint), with one credentials object per credential, refreshed once under a lock.
Credentials live only in its memory. It exits when the ansible-playbook process that owns the
play ends, when it has been idle for a while, or when its socket is removed or replaced.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import traceback

from ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_protocol import (
    ALIVE,
    BEAT,
    error_reply,
    owner_alive,
    recv_frame,
    send_frame,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_auth import build_credentials, project_from_params
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import (
    ComputeApi,
    compute_types,
    drop_unknown_request_id,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError

IDLE_TIMEOUT = 600.0
MAX_FRAME_PEEK = 65536  # what a refused peer may have sent before it reads the refusal
# Imports and client construction run one at a time: concurrent first imports of the proto
# modules can deadlock on Python's per-module import locks.
_BUILD_LOCK = threading.RLock()


class Credential:
    """One credentials object per credential, shared by every project and endpoint it is used with."""

    def __init__(self, number):
        self.number = number
        self.lock = threading.Lock()
        self.credentials = None
        self.project = None
        self.refreshes = 0
        self._request = None

    def build(self, auth):
        with self.lock:
            if self.credentials is not None:
                return
            with _BUILD_LOCK:
                # The collection's one credential logic (gcp_auth.build_credentials), with the key the module read.
                key = tuple(auth["service_account"]) if auth["auth_kind"] == "serviceaccount" else None
                credentials, project = build_credentials(auth, key=key)
            self.credentials, self.project = credentials, project

    def fresh(self):
        """Refresh an invalid token once, whatever the number of threads that need it."""
        if getattr(self.credentials, "valid", True):
            return
        with self.lock:
            if self.credentials.valid:
                return
            if self._request is None:
                with _BUILD_LOCK:
                    from google.auth.transport.requests import Request

                self._request = Request()
            self.credentials.refresh(self._request)
            self.refreshes += 1


class Scope:
    """One (credentials, project, endpoint): what the connections that use it share (not their clients)."""

    def __init__(self, credential, project, endpoint, auth_kind):
        self.credential = credential
        self.project = project
        self.endpoint = endpoint
        self.auth_kind = auth_kind
        self.connections = 0
        self.clients_built = 0  # seen by tests: every connection builds its own


class ScopedApi(ComputeApi):
    """A ComputeApi for one connection, with clients of its own.

    Each client holds a ``requests`` session, which is not safe to share between threads; the
    connection's thread is the only one that uses them. The imports they need are shared.
    """

    def __init__(self, scope):
        ComputeApi.__init__(self, scope.credential.credentials, scope.project, scope.endpoint, scope.auth_kind)
        self.scope = scope

    def client(self, service):
        if service not in self._clients:
            with _BUILD_LOCK:
                self.scope.clients_built += 1
                return ComputeApi.client(self, service)
        return self._clients[service]


def _digest(value):
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode("utf-8")).hexdigest()


class Registry:
    def __init__(self):
        self.lock = threading.Lock()
        self.credentials = {}
        self.scopes = {}

    def scope(self, hello):
        auth = hello["auth"]
        credential_key = _digest(auth)
        with self.lock:
            credential = self.credentials.get(credential_key)
            if credential is None:
                credential = self.credentials[credential_key] = Credential(len(self.credentials) + 1)
        credential.build(auth)  # a failure is not kept: the next task tries again
        project = project_from_params({"project": hello.get("project")}, credential.project)
        endpoint = hello.get("api_endpoint")
        key = (credential_key, project, (endpoint or "").rstrip("/"))
        with self.lock:
            scope = self.scopes.get(key)
            if scope is None:
                scope = self.scopes[key] = Scope(credential, project, endpoint, auth["auth_kind"])
        return scope

    def stats(self):
        """What tests may see: which clients exist for which scope; no key or token."""
        with self.lock:
            return {
                "pid": os.getpid(),
                "scopes": [
                    {
                        "credential": s.credential.number,
                        "project": s.project,
                        "endpoint": s.endpoint,
                        "connections": s.connections,
                        "clients_built": s.clients_built,
                        "refreshes": s.credential.refreshes,
                    }
                    for s in self.scopes.values()
                ],
            }


def run_request(api, scope, message):
    """One call for a module; the reply carries the number of HTTP requests it took."""
    service, method, doing = message["service"], message["method"], message["doing"]
    fields = message.get("fields") or {}
    before = api.request_count
    try:
        drop_unknown_request_id(service, method, fields)
        scope.credential.fresh()
        reply = {"result": api.call(service, method, doing=doing, retry=message.get("retry", True),
                                    timeout=message.get("timeout"), **fields)}
    except GcpError as exc:
        reply = error_reply(exc)
    except Exception as exc:
        reply = error_reply(api.translate(exc, doing))
    reply["requests"] = api.request_count - before
    return reply


def run_beating(conn, send_lock, work, *args):
    """``work(*args)`` while a heartbeat frame goes to the module every BEAT seconds; returns its result."""
    done = threading.Event()

    def beat():
        while not done.wait(BEAT):
            try:
                with send_lock:
                    send_frame(conn, ALIVE)
            except OSError:
                return

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        return work(*args)
    finally:
        done.set()
        beater.join()


def peer_uid(conn):
    data = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", data)[1]


class Helper:
    def __init__(self, config):
        self.path = config["socket"]
        self.owner = tuple(config["owner"])
        self.idle_timeout = float(config.get("idle_timeout") or IDLE_TIMEOUT)
        self.registry = Registry()
        self.lock = threading.Lock()
        self.active = 0
        self.in_flight = 0
        self.max_in_flight = 0  # seen by tests: forks are served at the same time
        self.last_activity = time.monotonic()

    @staticmethod
    def refuse(conn):
        """Answer a foreign peer with an error, never with data.

        Its first frame is read (briefly, bounded) before answering, so that the
        peer sees the error rather than a broken pipe on its own send."""
        conn.settimeout(2)
        try:
            conn.recv(MAX_FRAME_PEEK)
            send_frame(conn, error_reply(GcpError("the API helper serves only its own user")))
        except OSError:
            pass

    def serve_connection(self, conn):
        try:
            if peer_uid(conn) != os.getuid():
                self.refuse(conn)
                return
            hello = recv_frame(conn)
            if not hello:
                return
            if hello.get("op") == "stats":
                send_frame(conn, dict(self.registry.stats(), max_in_flight=self.max_in_flight,
                                      in_flight=self.in_flight))
                return
            try:
                scope = self.registry.scope(hello)
            except GcpError as exc:
                send_frame(conn, error_reply(exc))
                return
            except Exception as exc:
                send_frame(conn, error_reply(GcpError("build credentials failed: %s: %s" % (type(exc).__name__, exc))))
                return
            api = ScopedApi(scope)
            with self.registry.lock:
                scope.connections += 1
            send_lock = threading.Lock()
            send_frame(conn, {"project": scope.project})
            while True:
                message = recv_frame(conn)
                if message is None:
                    return
                with self.lock:
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    reply = run_beating(conn, send_lock, run_request, api, scope, message)
                finally:
                    with self.lock:
                        self.in_flight -= 1
                with send_lock:
                    send_frame(conn, reply)
        except (OSError, ValueError):
            return
        finally:
            conn.close()
            with self.lock:
                self.active -= 1
                self.last_activity = time.monotonic()

    def _identity(self):
        try:
            st = os.lstat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def run(self):
        os.umask(0o077)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        os.chmod(self.path, 0o600)
        listener.listen(128)
        identity = self._identity()
        os.write(1, b"ready %d\n" % os.getpid())
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1):
            os.dup2(devnull, fd)  # stderr is /dev/null too, unless GCE_COS_API_HELPER_LOG names a file
        try:
            watch = [os.pidfd_open(self.owner[0])]
        except (AttributeError, OSError):
            watch = []  # no pidfd here: the loop below polls the owner
        threading.Thread(target=prewarm, daemon=True).start()
        try:
            reason = self.serve(listener, watch, identity)
            sys.stderr.write("gce.cos API helper %d: exiting, %s\n" % (os.getpid(), reason))
        finally:
            if self._identity() == identity:
                os.unlink(self.path)
                lock = self.path[: -len(".sock")] + ".lock"
                if os.path.exists(lock):
                    os.unlink(lock)

    def serve(self, listener, watch, identity):
        """Accept connections until the play ends; returns why it stopped."""
        while True:
            if not owner_alive(*self.owner):
                return "the play ended"
            if self._identity() != identity:
                return "the socket was removed or replaced"
            ready = select.select([listener, *watch], [], [], 1.0)[0]
            if watch and watch[0] in ready:
                return "the play ended"
            if listener in ready:
                conn, _address = listener.accept()
                with self.lock:
                    self.active += 1
                    self.last_activity = time.monotonic()
                threading.Thread(target=self.serve_connection, args=(conn,), daemon=True).start()
            with self.lock:
                if not self.active and time.monotonic() - self.last_activity > self.idle_timeout:
                    return "idle for %ds" % self.idle_timeout


def prewarm():
    """Import the message types while the first module is still talking: most of a task's former cost."""
    try:
        with _BUILD_LOCK:
            compute_types()
            from google.api_core.client_options import ClientOptions  # noqa: F401
    except Exception:
        pass


def main(config):
    """Entry point of the helper process (see BOOTSTRAP in api_helper_client.py)."""
    try:
        Helper(config).run()
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(0)
