# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The module side of the API helper: one local process per play that keeps the clients imported.

Importing google-cloud-compute costs more than a second, and every Ansible task is a new
process. With ``GCE_COS_API_HELPER`` on, a module hands its API calls over a private unix
socket to a helper process started by the first module of the play (api_helper_server.py);
the module itself then imports neither google-cloud-compute nor google.auth. Whatever
stops the helper from answering, the module finishes the task on the plain in-process path,
with the same request ids, so an answer is never wrong and a mutation never acts twice.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import select
import signal
import socket
import sys
import time
import uuid

from ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_protocol import (
    BEAT_GRACE,
    HELLO_TIMEOUT,
    HelperStuck,
    HelperUnavailable,
    play_owner,
    private_dir,
    recv_frame,
    remove_stale,
    send_frame,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_auth import (
    DEFAULT_API_SCOPES,
    read_service_account_info,
    resolve_auth_kind,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi, drop_unknown_request_id
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import (
    GcpError,
    GcpOperationError,
    GcpTimeoutError,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_retry import RetryPolicy

# The one switch: on in the shipped playbooks and role (cos_deploy_api_helper), off otherwise.
SWITCH_ENV = "GCE_COS_API_HELPER"
TRUE_VALUES = ("1", "true", "yes", "on")
LOG_ENV = "GCE_COS_API_HELPER_LOG"
_PREFIX = "ansible_collections.gce.cos.plugins.module_utils."
# The helper runs these files, sent over its stdin from the module's own copy (AnsiballZ zip or checkout).
HELPER_MODULES = tuple(
    _PREFIX + name
    for name in (
        "_api_helper.api_helper_server",
        "_api_helper.api_helper_client",
        "_api_helper.api_helper_protocol",
        "_gcp.gcp_client",
        "_gcp.gcp_auth",
        "_gcp.gcp_errors",
        "_gcp.gcp_retry",
        "version",
    )
)
# Environment that changes how the helper authenticates or connects: a different value means another helper.
HELPER_ENV_KEYS = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_CONFIG",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "GOOGLE_CLOUD_QUOTA_PROJECT",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
    "GCE_METADATA_ROOT",
    "NO_GCE_CHECK",
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HOME",
    "PYTHONPATH",
    "GCE_COS_RETRY_INITIAL_DELAY",
)
# Credentials travel per connection, never in the helper's environment.
_SECRET_ENV = ("GCP_ACCESS_TOKEN", "GCP_SERVICE_ACCOUNT_CONTENTS")
START_TIMEOUT = 30.0
# Beyond the call's own bound (its HTTP timeout, or its retries' deadline plus one timeout).
REPLY_MARGIN = 30.0
_ERRORS = {"GcpError": GcpError, "GcpTimeoutError": GcpTimeoutError, "GcpOperationError": GcpOperationError}


def enabled(environ=None):
    return (environ if environ is not None else os.environ).get(SWITCH_ENV, "").strip().lower() in TRUE_VALUES


# -- what the helper runs ---------------------------------------------------------------------------
def _packed_with_the_module():
    """Never called: AnsiballZ packs every module_utils file a module names in an import, run or not.

    The server's source travels with the module this way, and helper_sources reads it without
    running it (compiling and executing it would cost every task, though only the helper runs it).
    """
    from ansible_collections.gce.cos.plugins.module_utils._api_helper import api_helper_server  # noqa: F401


def helper_sources():
    """The helper's code as {module name: source}, read from wherever this module was loaded from."""
    sources = {}
    for name in HELPER_MODULES:
        module = sys.modules.get(name)
        loader = getattr(module, "__loader__", None) if module else None
        if loader is None:
            spec = importlib.util.find_spec(name)
            loader = spec.loader if spec else None
        source = loader.get_source(name) if loader is not None and hasattr(loader, "get_source") else None
        if not source:
            raise HelperUnavailable("the source of %s is not available" % name)
        sources[name] = source
    return sources


# Runs as ``python -c``: serve the helper's modules from memory, nothing is written to disk.
BOOTSTRAP = r"""
import importlib.abc, importlib.util, json, os, sys
os.chdir("/")
sys.path[:] = [p for p in sys.path if p]
blob = json.loads(sys.stdin.buffer.read().decode("utf-8"))
sys.stdin.close()
SOURCES = blob["sources"]


class SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name in SOURCES:
            return importlib.util.spec_from_loader(name, self, is_package=False)
        if any(s.startswith(name + ".") for s in SOURCES):
            return importlib.util.spec_from_loader(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source = SOURCES.get(module.__name__)
        if source is not None:
            exec(compile(source, "<gce.cos api helper>/" + module.__name__, "exec"), module.__dict__)


sys.meta_path.insert(0, SourceFinder())
import ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_server as server
server.main(blob["config"])
"""


def helper_environment():
    return {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}


def socket_name(owner, sources):
    digest = hashlib.sha256()
    digest.update(sys.executable.encode("utf-8"))
    for key in HELPER_ENV_KEYS:
        digest.update(b"\0%s=%s" % (key.encode(), os.environ.get(key, "\1").encode("utf-8", "replace")))
    for name in sorted(sources):
        digest.update(b"\0" + name.encode() + b"\0" + sources[name].encode("utf-8"))
    return "h-%d.%d-%s" % (owner[0], owner[1], digest.hexdigest()[:12])


def _connect(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(HELLO_TIMEOUT)  # every later read and write has a bound too (HelperApi sets it per call)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return sock


def start_helper(path, owner, sources, idle_timeout=None):
    """Start a helper on ``path`` and wait until it listens.

    fork and exec, not subprocess: the helper must outlive this module, in a session of its own
    (a Ctrl-C reaches ansible-playbook; the helper follows when it exits), with only the
    pipes and the log as open files.
    """
    config = {"socket": path, "owner": list(owner)}
    if idle_timeout is not None:
        config["idle_timeout"] = idle_timeout
    # No -P (Python 3.11+): the child runs in "/" and the bootstrap drops the empty path entry -c adds.
    argv = [sys.executable, "-c", BOOTSTRAP]
    log = os.environ.get(LOG_ENV)
    # Tracebacks of the helper, for debugging only (they hold no credentials).
    errors = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if log else os.open(os.devnull, os.O_WRONLY)
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    env = helper_environment()
    try:
        pid = os.fork()
        if pid == 0:  # the child: a session of its own, the pipes as 0 and 1, then the helper
            try:
                os.setsid()
                os.chdir("/")
                for fd, target in ((stdin_r, 0), (stdout_w, 1), (errors, 2)):
                    os.dup2(fd, target)
                # Python opens every other descriptor close-on-exec: only 0, 1 and 2 reach the helper.
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
    finally:
        for fd in (stdin_r, stdout_w, errors):
            os.close(fd)
    try:
        with os.fdopen(stdin_w, "wb") as stdin:
            stdin.write(json.dumps({"sources": sources, "config": config}).encode("utf-8"))
        deadline = time.monotonic() + START_TIMEOUT
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([stdout_r], [], [], remaining)[0]:
                raise HelperUnavailable("the helper did not start within %ds" % START_TIMEOUT)
            chunk = os.read(stdout_r, 256)
            if not chunk:
                raise HelperUnavailable("the helper exited at start")
            line += chunk
    except (OSError, HelperUnavailable):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        raise
    finally:
        os.close(stdout_r)
    # The helper is not waited for: it is reparented when this module exits.


def connect_helper(owner, sources, idle_timeout=None):
    """A connected socket to the play's helper, starting it (once, across forks) when needed."""
    directory = private_dir()
    name = socket_name(owner, sources)
    path = os.path.join(directory, name + ".sock")
    if len(path.encode()) > 107:
        raise HelperUnavailable("the socket path %s is too long for a unix socket" % path)
    try:
        return _connect(path)
    except OSError:
        pass
    lock_fd = os.open(os.path.join(directory, name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            return _connect(path)  # another fork started it meanwhile
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ECONNREFUSED):
                raise HelperUnavailable("cannot connect to %s (%s)" % (path, exc.strerror))
        if os.path.lexists(path):
            os.unlink(path)  # stale: nothing listens on it (the helper died)
        remove_stale(directory)
        start_helper(path, owner, sources, idle_timeout)
        try:
            return _connect(path)
        except OSError as exc:
            raise HelperUnavailable("cannot connect to %s (%s)" % (path, exc.strerror))
    finally:
        os.close(lock_fd)


def _adc_fingerprint():
    """What identifies Application Default Credentials: the key file's content (gcloud's file or the env's)."""
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.path.join(
        os.environ.get("CLOUDSDK_CONFIG") or os.path.expanduser("~/.config/gcloud"),
        "application_default_credentials.json",
    )
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def hello_message(params):
    """The connection settings a helper builds credentials and clients from (kept in memory only)."""
    kind = resolve_auth_kind(params)
    auth = {
        "auth_kind": kind,
        "scopes": params.get("scopes") or DEFAULT_API_SCOPES,
        "access_token": params.get("access_token") if kind == "accesstoken" else None,
        "service_account_email": params.get("service_account_email") if kind == "machineaccount" else None,
    }
    if kind == "serviceaccount":
        info, source = read_service_account_info(params)  # same errors as the plain path, before any call
        auth["service_account"] = [info, source]
    elif kind == "application":
        auth["adc"] = _adc_fingerprint()
    return {"op": "hello", "auth": auth, "project": params.get("project"), "api_endpoint": params.get("api_endpoint")}


def _raise_error(error):
    cls = _ERRORS.get(error.get("type"), GcpError)
    raise cls(error["message"], status=error.get("status"), reason=error.get("reason"), details=error.get("details"))


class HelperApi(ComputeApi):
    """A ComputeApi whose calls run in the play's API helper; same interface, results and errors.

    ``plain`` builds the in-process ComputeApi; it takes over if the helper goes away and
    cannot be started again, and finishes the interrupted call with the same request id.
    """

    def __init__(self, hello, owner, plain, warn=None, sources=None, idle_timeout=None):
        # A stuck helper (HelperStuck) is not tried again: this task runs on the plain path.
        ComputeApi.__init__(self, None, None, hello.get("api_endpoint"), hello["auth"]["auth_kind"])
        self._hello = hello
        self._owner = owner
        self._plain_factory = plain
        self._plain = None
        self._warn = warn
        self._sources = sources or helper_sources()
        self._idle_timeout = idle_timeout
        self._sock = None
        for attempt in range(3):
            try:
                self._open()
                break
            except HelperStuck:
                raise
            except HelperUnavailable:
                if attempt == 2:
                    raise
                time.sleep(0.2 * attempt)  # a helper killed a moment ago may still accept and reset

    def _open(self):
        """Connect (starting the helper if needed) and say hello; GcpError for bad settings.

        A helper that accepts but does not answer the hello (stopped, frozen) is stuck: its socket
        is removed, so that the next task starts a new helper, and this task runs without one.
        """
        try:
            sock = connect_helper(self._owner, self._sources, self._idle_timeout)
        except OSError as exc:
            raise HelperUnavailable(str(exc))
        try:
            send_frame(sock, self._hello)
            reply = recv_frame(sock)
        except socket.timeout:
            sock.close()
            self._retire()
            raise HelperStuck("the helper did not answer within %ds" % HELLO_TIMEOUT)
        except (OSError, ValueError) as exc:
            sock.close()
            raise HelperUnavailable("the helper failed during hello (%s)" % exc)
        if reply is None:
            sock.close()
            raise HelperUnavailable("the helper closed the connection during hello")
        if "error" in reply:
            sock.close()
            _raise_error(reply["error"])
        self._sock = sock
        self.project = reply["project"]

    def _retire(self):
        """Remove the socket of a stuck helper; the helper exits when it sees that (if it ever runs again)."""
        with contextlib.suppress(OSError, HelperUnavailable):
            os.unlink(os.path.join(private_dir(), socket_name(self._owner, self._sources) + ".sock"))

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    @staticmethod
    def reply_bound(service, retry, timeout):
        """Seconds a call may take in the helper: its HTTP timeout, or its retries' deadline plus one more."""
        one = float(timeout or (130.0 if service.endswith("_operations") else 60.0))
        if retry is True:
            one += RetryPolicy().deadline
        elif retry:
            one += float(retry)
        return one + REPLY_MARGIN

    def _await_reply(self, bound):
        """The reply to the request just sent, skipping heartbeats.

        Each read waits at most BEAT_GRACE (the helper beats every BEAT while it works): a
        stopped or frozen helper is found within seconds. ``bound`` caps the whole wait.
        """
        deadline = time.monotonic() + bound
        self._sock.settimeout(BEAT_GRACE)
        while True:
            try:
                reply = recv_frame(self._sock)
            except socket.timeout:
                raise HelperStuck("the helper stopped answering (no sign of life for %ds)" % BEAT_GRACE)
            if reply is None or not reply.get("alive"):
                return reply
            if time.monotonic() > deadline:
                raise HelperStuck("the helper did not finish the call within %ds" % bound)

    def _exchange(self, message, bound):
        """Send one request, reconnecting (to a new helper) if the helper went away.

        Three tries: a helper killed a moment ago may still accept a connection and reset it.
        A stuck helper is not tried again: the call goes to the plain path.
        """
        for attempt in range(3):
            if attempt == 2:
                time.sleep(0.2)
            try:
                if self._sock is None:
                    self._open()
                self._sock.settimeout(BEAT_GRACE)
                send_frame(self._sock, message)
                reply = self._await_reply(bound)
                if reply is not None:
                    return reply
                reason = "the helper closed the connection"
            except HelperStuck:
                self.close()
                raise
            except (OSError, ValueError, TypeError, HelperUnavailable) as exc:
                reason = str(exc)
            self.close()
        raise HelperUnavailable(reason)

    def _fall_back(self, reason):
        if self._plain is None:
            self._plain = self._plain_factory()
            if self._warn:
                self._warn("the API helper stopped answering (%s); this task went on without it" % reason)
        return self._plain

    def call(self, service, method, /, *, doing, retry=True, timeout=None, **fields):
        # The id is chosen here, so that a call resent after the helper died cannot act twice.
        if method.endswith("_unary") and not fields.get("request_id"):
            fields["request_id"] = str(uuid.uuid4())
        if self._plain is None:
            message = {"op": "call", "service": service, "method": method, "doing": doing,
                       "retry": retry, "timeout": timeout, "fields": fields}
            try:
                reply = self._exchange(message, self.reply_bound(service, retry, timeout))
            except HelperUnavailable as exc:
                self._fall_back(exc)
            else:
                self.request_count += reply.get("requests", 0)
                if "error" in reply:
                    _raise_error(reply["error"])
                return reply["result"]
        plain = self._plain
        before = plain.request_count
        drop_unknown_request_id(service, method, fields)
        try:
            return plain.call(service, method, doing=doing, retry=retry, timeout=timeout, **fields)
        finally:
            self.request_count += plain.request_count - before


def helper_api(params, plain, warn=None):
    """A HelperApi when the switch is on and the helper can serve this module, else None (plain path)."""
    if not enabled():
        return None
    try:
        owner = play_owner()
    except (OSError, ValueError, IndexError):
        owner = None
    if owner is None:
        return None  # not under ansible-playbook (a module run by hand, a test runner): nothing would stop it
    hello = hello_message(params)
    try:
        return HelperApi(hello, owner, plain, warn=warn)
    except GcpError:
        raise  # the settings are wrong: the plain path would say the same
    except Exception as exc:
        if warn:
            warn("the API helper is not available (%s); this task ran without it" % exc)
        return None
