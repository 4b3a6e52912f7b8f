"""Test stand-in for systemctl: PID 1 is not systemd on the test machines.

Unit state lives in files under $STUB_STATE/units. `start` runs the unit's ExecStartPre= and
ExecStart= command lines for real (parsed with systemd's quoting rules, run with the stub
docker on PATH), synchronously, with their output appended to a per-unit "journal" that the
journalctl stub prints. With $STUB_STATE/async present, `start --no-block` returns at once and
the unit stays "activating" (with a Job) until its lines have run, as with systemd.
With $STUB_STATE/auto_restart present, a failed start of a unit with Restart=always or
on-failure goes to "activating"/"auto-restart" and a background process starts it again
after the file's number of seconds (the unit's RestartSec= when empty), counting NRestarts,
until StartLimitBurst= (when StartLimitIntervalSec= is not 0) makes systemd give up: "failed",
result start-limit-hit. A manual start/restart resets NRestarts, as reset-failed does.
With $STUB_STATE/active_enter present, a unit that turns active records
ActiveEnterTimestampMonotonic (from /proc/uptime, the clock the agent compares it with), so the
agent's COS_AGENT_MIN_UP_SECONDS applies; without it the property is empty and does not.
Absolute paths in the units are mapped through $STUB_PATH_MAP ("FROM=TO:FROM=TO") so that
rendered units run against the test's directories.
Every call is appended to $STUB_STATE/calls.log.
"""

import contextlib
import fcntl
import os
import subprocess
import sys
import time

STATE = os.environ["STUB_STATE"]
UNIT_DIR = os.environ["STUB_UNIT_DIR"]
DEFAULTS = {"Job": "", "ActiveState": "inactive", "SubState": "dead", "Result": "success", "ExecMainStatus": "0",
            "NRestarts": "0"}
# Safety bound on the background restarts of one crash loop (a test ends long before).
MAX_AUTO_RESTARTS = 200
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def uptime_usec():
    """The clock the agent reads (/proc/uptime), in microseconds, as systemd's *Monotonic."""
    with open("/proc/uptime", encoding="ascii") as f:
        return int(float(f.read().split()[0]) * 1000000)


def path_map():
    pairs = []
    for item in os.environ.get("STUB_PATH_MAP", "").split(":"):
        if "=" in item:
            src, dst = item.split("=", 1)
            pairs.append((src, dst))
    return pairs


def unit_settings(unit):
    """KEY -> [values] of a unit file, with backslash-newline continuations joined."""
    with open(os.path.join(UNIT_DIR, unit), encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    settings = {}
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def split_words(line):
    """systemd's command line syntax: quotes, C escapes, $$ and %% (no $VAR expansion here)."""
    words, word, quote, in_word, i = [], [], None, False, 0
    while i < len(line):
        ch = line[i]
        if quote is None and ch in " \t":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        elif ch == quote:
            quote = None
        elif quote is None and ch in "\"'":
            quote, in_word = ch, True
        elif ch == "\\" and i + 1 < len(line):
            i += 1
            word.append(ESCAPES.get(line[i], line[i]))
            in_word = True
        elif ch in "$%" and line[i + 1:i + 2] == ch:
            i += 1
            word.append(ch)
            in_word = True
        else:
            word.append(ch)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return [mapped(w) for w in words]


def mapped(word):
    for src, dst in path_map():
        word = word.replace(src, dst)
    return word


@contextlib.contextmanager
def unit_lock(name):
    """systemd runs one job of a unit at a time: the stand-in's RestartSec= timer and a manual start,
    restart or stop of the same unit take turns (else a timer's start in flight overwrites a restart)."""
    os.makedirs(os.path.join(STATE, "units"), exist_ok=True)
    with open(os.path.join(STATE, "units", "." + name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


class Unit:
    def __init__(self, name):
        self.name = name
        self.state_file = os.path.join(STATE, "units", name)
        self.journal = os.path.join(STATE, "journal", name + ".log")

    def state(self):
        values = dict(DEFAULTS)
        if os.path.exists(self.state_file):
            with open(self.state_file, encoding="utf-8") as f:
                for line in f.read().splitlines():
                    key, value = line.split("=", 1)
                    values[key] = value
        return values

    def set_state(self, active, sub, result, status, job="", restarts=0):
        tmp = self.state_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("ActiveState=%s\nSubState=%s\nResult=%s\nExecMainStatus=%s\nJob=%s\nNRestarts=%d\n"
                    % (active, sub, result, status, job, restarts))
            if active == "active" and os.path.exists(os.path.join(STATE, "active_enter")):
                f.write("ActiveEnterTimestampMonotonic=%d\n" % uptime_usec())
        os.replace(tmp, self.state_file)

    def run(self, keys):
        """Run the Exec lines of keys in order; the status of the first failing one not prefixed by '-'."""
        settings = unit_settings(self.name)
        env = dict(os.environ)
        for assignment in settings.get("Environment", []):
            for word in split_words(assignment):
                key, _, value = word.partition("=")
                env[key] = value
        instance = self.name.split("@", 1)[1].rsplit(".", 1)[0] if "@" in self.name else ""
        for key in keys:
            for line in settings.get(key, []):
                # systemd's instance specifier (%i; %% stays for split_words).
                line = "%%".join(part.replace("%i", instance) for part in line.split("%%"))
                ignore = False
                while line and line[0] in "-@+!:":
                    ignore = ignore or line[0] == "-"
                    line = line[1:]
                with open(self.journal, "a", encoding="utf-8") as log:
                    rc = subprocess.call(split_words(line), stdout=log, stderr=log, env=env)
                if rc and not ignore:
                    return rc
        return 0

    def start(self, restarts=0):
        if self.state()["ActiveState"] == "active":
            return 0
        if not os.path.exists(os.path.join(UNIT_DIR, self.name)):
            print("Failed to start %s: Unit %s not found." % (self.name, self.name), file=sys.stderr)
            return 5
        rc = self.run(["ExecStartPre", "ExecStart"])
        if rc and self.restarts_on_failure():
            if self.start_limit_hit(restarts):
                self.set_state("failed", "failed", "start-limit-hit", rc, restarts=restarts)
            else:
                self.set_state("activating", "auto-restart", "exit-code", rc, restarts=restarts)
                if restarts < MAX_AUTO_RESTARTS:
                    subprocess.Popen([sys.executable, os.path.abspath(__file__), "__auto-restart", self.name],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        elif rc:
            self.set_state("failed", "failed", "exit-code", rc, restarts=restarts)
        else:
            self.set_state("active", "running", "success", 0, restarts=restarts)
        return 0

    def restarts_on_failure(self):
        if not os.path.exists(os.path.join(STATE, "auto_restart")):
            return False
        return unit_settings(self.name).get("Restart", ["no"])[-1] in ("always", "on-failure")

    def start_limit_hit(self, restarts):
        """systemd gives up when the next start would exceed StartLimitBurst= (interval not 0)."""
        settings = unit_settings(self.name)
        interval = settings.get("StartLimitIntervalSec", ["10s"])[-1]
        burst = settings.get("StartLimitBurst", [""])[-1]
        if interval in ("0", "") or not burst.isdigit():
            return False
        return restarts + 2 > int(burst)  # this start and the next one

    def restart_sec(self):
        with open(os.path.join(STATE, "auto_restart"), encoding="utf-8") as f:
            value = f.read().strip()
        if not value:
            value = unit_settings(self.name).get("RestartSec", ["0.1"])[-1].rstrip("s")
        return float(value)

    def auto_restart(self):
        """The RestartSec= timer: start again unless the unit left auto-restart meanwhile."""
        time.sleep(self.restart_sec())
        with unit_lock(self.name):
            state = self.state()
            if state["ActiveState"] != "activating" or state["SubState"] != "auto-restart":
                return 0
            restarts = int(state["NRestarts"]) + 1
            self.set_state("activating", "start", "success", 0, restarts=restarts)
            return self.start(restarts)

    def stop(self):
        state = self.state()
        if state["ActiveState"] == "active":
            self.run(["ExecStop", "ExecStopPost"])
        if state["ActiveState"] != "failed":
            self.set_state("inactive", "dead", "success", 0)


def main(argv):
    if argv[:1] == ["__auto-restart"]:  # the stand-in's own RestartSec= timer, not a call
        return Unit(argv[1]).auto_restart()
    with open(os.path.join(STATE, "calls.log"), "a", encoding="utf-8") as log:
        log.write("systemctl %s\n" % " ".join(argv))
    os.makedirs(os.path.join(STATE, "units"), exist_ok=True)
    os.makedirs(os.path.join(STATE, "journal"), exist_ok=True)
    props, args, i, no_block = [], [], 0, False
    while i < len(argv):
        arg = argv[i]
        if arg in ("-p", "--property"):
            i += 1
            props.extend(argv[i].split(","))
        elif arg.startswith("--property="):
            props.extend(arg.split("=", 1)[1].split(","))
        elif arg == "--no-block":
            no_block = True
        elif arg in ("--quiet", "-q", "--no-pager", "--now", "--"):
            pass
        elif arg.startswith("-"):
            print("systemctl stub: unsupported option %s" % arg, file=sys.stderr)
            return 2
        else:
            args.append(arg)
        i += 1
    cmd, units = args[0], args[1:]
    if cmd in ("daemon-reload", "disable", "enable", "reset-failed"):
        return 0
    unit = Unit(units[0])
    if cmd in ("start", "restart") and no_block and os.path.exists(os.path.join(STATE, "async")):
        # Like systemd: the job is queued and runs on; meanwhile the unit is activating.
        if cmd == "restart":
            unit.stop()
        unit.set_state("activating", "start-pre", "success", 0, job="1")
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "start", unit.name],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return 0
    if cmd == "start":
        with unit_lock(unit.name):
            return unit.start()
    if cmd == "restart":
        with unit_lock(unit.name):
            unit.stop()
            if os.path.exists(unit.state_file):
                os.remove(unit.state_file)
            return unit.start()
    if cmd == "stop":
        with unit_lock(unit.name):
            unit.stop()
        return 0
    if cmd == "show":
        state = unit.state()
        for prop in props:
            print("%s=%s" % (prop, state.get(prop, "")))
        return 0
    print("systemctl stub: unsupported command %s" % cmd, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
