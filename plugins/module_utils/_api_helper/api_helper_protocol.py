# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""What both sides of the API helper share: framing, the play that owns a helper, the private directory, errors.

The module (api_helper_client.py) and the helper (api_helper_server.py) import this file and
nothing of each other. Standard library only: a module imports it on every task.

A frame is a 4-byte big-endian length, then JSON. While the helper works on a call it sends a
``{"alive": true}`` frame every ``BEAT`` seconds, so the module can tell a slow API call from a
helper that is stopped or stuck: no frame for ``BEAT_GRACE`` seconds means the helper is gone.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import re
import stat
import struct

MAX_FRAME = 256 * 1024 * 1024
# The helper's heartbeat while a call runs, and how long the module waits for any frame.
BEAT = 1.0
BEAT_GRACE = 5.0
ALIVE = {"alive": True}
# Connect and hello: the helper answers at once (credentials are built lazily).
HELLO_TIMEOUT = 10.0
# The ansible commands whose process owns a play (the helper lives as long as it does).
_ANSIBLE_COMMANDS = re.compile(r"^ansible(-playbook|-console|-pull)?$")
SOCKET_RE = re.compile(r"^h-(\d+)\.(\d+)-[0-9a-f]+\.(sock|lock)$")


class HelperUnavailable(Exception):
    """The helper cannot be used for this call; the plain path takes over."""


class HelperStuck(HelperUnavailable):
    """The helper accepted the connection but stopped answering (stopped, frozen or wedged)."""


# -- framing --------------------------------------------------------------------------------------------
def send_frame(sock, message):
    data = json.dumps(message, separators=(",", ":")).encode("utf-8")
    sock.sendall(struct.pack(">I", len(data)) + data)


def _recv_exact(sock, size):
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock):
    """The next message, or None when the other side closed the connection.

    A timeout set on the socket bounds each read (socket.timeout, an OSError, when it passes).
    """
    header = _recv_exact(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack(">I", header)
    if size > MAX_FRAME:
        raise ValueError("frame of %d bytes refused" % size)
    data = _recv_exact(sock, size)
    if data is None:
        return None
    return json.loads(data.decode("utf-8"))


# -- errors -------------------------------------------------------------------------------------------
def error_reply(exc):
    """A GcpError (or subclass) as a reply frame."""
    return {
        "error": {
            "type": type(exc).__name__,
            "message": exc.message,
            "status": exc.status,
            "reason": exc.reason,
            "details": exc.details,
        }
    }


# -- the play that owns the helper ----------------------------------------------------------------------
def process_stat(pid):
    """``(ppid, start_time)`` of a live process from /proc, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    # After the command: state, ppid, ... start time is field 22 of the line (index 19 here).
    return int(fields[1]), int(fields[19])


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _is_ansible_command(cmdline):
    argv = [a.decode("utf-8", "replace") for a in cmdline.split(b"\0")[:2]]
    return any(_ANSIBLE_COMMANDS.match(os.path.basename(a)) for a in argv)


def play_owner(pid=None):
    """``(pid, start_time)`` of the ansible-playbook process whose play runs this module, or None.

    The nearest ansible command among the ancestors is a fork worker or the main process;
    workers are forks of the main one (same command line), so climb while the parent's matches.
    """
    pid = os.getppid() if pid is None else pid
    while pid > 1:
        if _is_ansible_command(_cmdline(pid)):
            cmdline = _cmdline(pid)
            while True:
                info = process_stat(pid)
                if info is None:
                    return None
                if info[0] <= 1 or _cmdline(info[0]) != cmdline:
                    return pid, info[1]
                pid = info[0]
        info = process_stat(pid)
        if info is None:
            return None
        pid = info[0]
    return None


def owner_alive(pid, start_time):
    info = process_stat(pid)
    return info is not None and info[1] == start_time


# -- the private directory ------------------------------------------------------------------------------
def private_directory():
    """(path, problem): the user's 0700 directory for the helper's sockets and the code cache.

    problem is None when the directory exists (it is created 0700), is a directory and not a
    link, belongs to the user and has no group or other bits; otherwise a sentence saying why not.
    """
    uid = os.getuid()
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base) and os.stat(base).st_uid == uid:
        path = os.path.join(base, "gce-cos")
    else:
        path = os.path.join("/tmp", "gce-cos-%d" % uid)
    return path, _private(path, uid)


def _private(path, uid):
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        return "cannot create %s (%s)" % (path, exc.strerror)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
        return "%s is not a private directory of uid %d (mode %o): remove it, it is created 0700" % (
            path,
            uid,
            st.st_mode,
        )
    return None


def private_dir():
    """The user's 0700 directory for helper sockets; raises HelperUnavailable if it is not private."""
    path, problem = private_directory()
    if problem is not None:
        raise HelperUnavailable(problem)
    return path


def remove_stale(directory):
    """Sockets and locks of plays that ended (a crashed run, a kill -9) are removed."""
    for name in os.listdir(directory):
        match = SOCKET_RE.match(name)
        if match and not owner_alive(int(match.group(1)), int(match.group(2))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))
