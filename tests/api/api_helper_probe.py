"""Run by a play's command task: what the API helpers of a run directory look like, as one JSON line.

    python api_helper_probe.py RUN_DIR [--kill | --stop]

Prints the directory's mode, each file's mode and owner, and each listening helper's stats
(its pid and which clients it holds for which scope). ``--kill`` then SIGKILLs those helpers,
``--stop`` SIGSTOPs them (frozen: they accept connections but never answer). A helper that does
not answer within 5 s is listed with an error.
"""

import json
import os
import signal
import socket
import stat
import struct
import sys


def frame(sock, message):
    data = json.dumps(message).encode()
    sock.sendall(struct.pack(">I", len(data)) + data)
    size = struct.unpack(">I", sock.recv(4, socket.MSG_WAITALL))[0]
    return json.loads(sock.recv(size, socket.MSG_WAITALL))


def probe(run_dir):
    directory = os.path.join(run_dir, "gce-cos")
    if not os.path.isdir(directory):
        return {"dir_mode": None, "files": {}, "helpers": []}
    result = {"dir_mode": oct(stat.S_IMODE(os.stat(directory).st_mode)), "files": {}, "helpers": []}
    # The code cache's directory and its entries are listed as "code" and "code/ENTRY".
    code = os.path.join(directory, "code")
    names = sorted(os.listdir(directory))
    if os.path.isdir(code) and not os.path.islink(code):
        names += ["code/" + n for n in sorted(os.listdir(code))]
    for name in names:
        path = os.path.join(directory, name)
        st = os.lstat(path)
        result["files"][name] = {"mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid,
                                 "socket": stat.S_ISSOCK(st.st_mode)}
        if stat.S_ISSOCK(st.st_mode):
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(5)
            try:
                sock.connect(path)
                result["helpers"].append(frame(sock, {"op": "stats"}))
            except OSError as exc:
                result["helpers"].append({"socket": name, "error": str(exc)})
            finally:
                sock.close()
    return result


if __name__ == "__main__":
    found = probe(sys.argv[1])
    print(json.dumps(found))
    for flag, sig in (("--kill", signal.SIGKILL), ("--stop", signal.SIGSTOP)):
        if flag in sys.argv:
            for helper in found["helpers"]:
                if "pid" in helper:
                    os.kill(helper["pid"], sig)
