"""A stand-in for COS's logging agent: what a simulated VM would send to Cloud Logging.

On COS, `google-logging-enabled=true` runs fluent-bit, which ships the journal and docker's
`json-file` container logs (/var/lib/docker/containers/ID/ID-json.log). This stand-in runs on the
host, beside the VM: every `interval` seconds it reads what is new in the VM's persistent journal
(STATE/var/log/journal, with the host's journalctl) and in the containers' json-file logs
(STATE/var/lib/docker/containers), and appends one JSON line per shipped entry to
STATE/cloud-logging.jsonl:

    {"source": "journal", "unit": "cos-container-web.service", "identifier": "bash", "message": "..."}
    {"source": "json-file", "container": "ID", "stream": "stdout", "message": "..."}

So a test counts what would reach Cloud Logging (`entries()`, `count(text)`). It ships whether or
not the instance has `google-logging-enabled` (the tests want to see everything); the VM keeps one
agent over all its boots, so nothing is shipped twice across a reset or a stop and start.
"""

import contextlib
import glob
import json
import os
import subprocess
import threading


def _text(value):
    if isinstance(value, list):  # journald gives non-UTF-8 fields as byte arrays
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


class LoggingAgent:
    def __init__(self, state_dir, interval=1.0):
        self.state_dir = state_dir
        self.interval = interval
        self.out_path = os.path.join(state_dir, "cloud-logging.jsonl")
        self._cursor = None
        self._offsets = {}  # json-file log path -> bytes shipped
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # ----- control
    def start(self):
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="logging-agent", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop after a last pass, so what the VM wrote before it stopped is shipped."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(30)
        self._thread = None
        self.poll()

    def _loop(self):
        while not self._stop.wait(self.interval):
            # A failed pass is tried again at the next one; a test sees lines that never came.
            with contextlib.suppress(Exception):
                self.poll()

    # ----- one pass
    def poll(self):
        """Ship what is new since the last pass; returns the entries shipped."""
        with self._lock:
            entries = self._journal() + self._json_files()
            if entries:
                with open(self.out_path, "a", encoding="utf-8") as f:
                    for entry in entries:
                        f.write(json.dumps(entry, sort_keys=True) + "\n")
            return entries

    def _journal(self):
        directory = os.path.join(self.state_dir, "var", "log", "journal")
        if not os.path.isdir(directory):
            return []
        argv = ["journalctl", "-D", directory, "-o", "json", "--no-pager"]
        if self._cursor:
            argv += ["--after-cursor", self._cursor]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        entries = []
        for line in proc.stdout.splitlines():
            try:
                fields = json.loads(line)
            except ValueError:
                continue  # a line cut by a concurrent write: the cursor says where to go on
            self._cursor = fields.get("__CURSOR", self._cursor)
            entries.append({"source": "journal", "unit": _text(fields.get("_SYSTEMD_UNIT")),
                            "identifier": _text(fields.get("SYSLOG_IDENTIFIER")),
                            "message": _text(fields.get("MESSAGE"))})
        return entries

    def _json_files(self):
        pattern = os.path.join(self.state_dir, "var", "lib", "docker", "containers", "*", "*-json.log")
        entries = []
        for path in sorted(glob.glob(pattern)):
            offset = self._offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    data = f.read()
            except OSError:  # removed with its container meanwhile
                continue
            end = data.rfind(b"\n") + 1  # complete lines only; the rest next time
            for raw in data[:end].splitlines():
                try:
                    rec = json.loads(raw)
                except ValueError:
                    continue
                entries.append({"source": "json-file", "container": os.path.basename(os.path.dirname(path)),
                                "stream": rec.get("stream", ""), "message": rec.get("log", "").rstrip("\n")})
            self._offsets[path] = offset + end
        return entries

    # ----- what was shipped
    def entries(self):
        """Every entry shipped so far (after one more pass)."""
        self.poll()
        try:
            with open(self.out_path, encoding="utf-8") as f:
                return [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def count(self, text):
        """How many shipped entries hold ``text`` in their message."""
        return sum(text in e["message"] for e in self.entries())
