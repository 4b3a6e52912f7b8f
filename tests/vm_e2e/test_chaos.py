"""Chaos on one VM, chaos-1 (vars/chaos.yml: two containers, one on a persistent disk, one under
/var): each case injects one fault into a deployed VM, then checks that
(a) the containers converge to the desired revision with nobody acting (or the agent says why not),
(b) the data on the persistent disk and under /var is intact,
(c) the guest attributes never claim a revision, image or digest that does not run: a sampler
    thread reads them with google-cloud-compute's getGuestAttributes during the fault and compares
    them with docker and systemd inside the VM.

A spec change is what cos_container would write: the unit text in metadata with another image tag
(each case pushes its own tags, so every change needs a pull). The agent runs with a drop-in that
shortens its watch timeout and backoff and enables its test hooks (docs/dev/agent.md, "Faults").
"""

import calendar
import hashlib
import json
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import wait_for
from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE

NAME = "chaos-1"
CONTAINERS = ("front", "back")
DISK_DEV = "/dev/disk/by-id/google-data"
DATA = {"front": "/mnt/disks/data", "back": "/var/lib/chaos-back"}
FORMAT_LINE = "is blank: formatting it as ext4"
STATE_DIR = "/var/lib/cos-agent"
HOOKS = STATE_DIR + "/test-hooks"
CLOCK_OFFSET = "/run/cos-agent-chaos-clock"
WATCH_TIMEOUT, BACKOFF_MAX = 10, 4
# The agent's watch settings for the suite, its test hooks, and a wall clock it reads through
# `date` that a case can set back (systemd's and docker's clocks are the host's: see clock case).
DROP_IN = """[Service]
Environment=COS_AGENT_WATCH_TIMEOUT=%d COS_AGENT_BACKOFF_MAX=%d COS_AGENT_TEST_HOOKS=1
Environment=COS_AGENT_HEARTBEAT_SECONDS=%d
Environment=BASH_ENV=/etc/cos-agent-chaos/clock.bash
""" % (WATCH_TIMEOUT, BACKOFF_MAX, WATCH_TIMEOUT)
CLOCK_SHIM = r"""# chaos suite: the agent's wall clock, CLOCK_OFFSET seconds behind the host's
date() {
  local off=0
  read -r off <%s 2>/dev/null || off=0
  command date -d "@$(($(command date +%%s) - off))" "$@"
}
""" % CLOCK_OFFSET
# What runs, per container unit: NAME|UNIT_REVISION|UNIT_IMAGE|JOB|ACTIVE|DOCKER_STATE|IMAGE|ID|DIGESTS
TRUTH = r"""
for u in /etc/systemd/system/cos-container-*.service; do
  [[ -f $u ]] || continue
  n=${u##*/cos-container-}; n=${n%.service}
  sum=$(sha256sum <"$u")
  img=$(sed -n 's/^# cos-image: //p' "$u" | head -n 1)
  job=$(systemctl show -p Job --value "cos-container-$n.service")
  act=$(systemctl show -p ActiveState --value "cos-container-$n.service")
  info=$(docker inspect --format '{{.State.Status}}|{{.Config.Image}}|{{.Image}}' "$n" 2>/dev/null) || info='||'
  digests=''
  id=${info##*|}
  if [[ -n $id ]]; then digests=$(docker image inspect --format '{{join .RepoDigests " "}}' "$id" 2>/dev/null); fi
  printf '%s|%s|%s|%s|%s|%s|%s\n' "$n" "${sum:0:16}" "$img" "$job" "$act" "$info" "$digests"
done
"""


def revision(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Chaos:
    """The chaos VM and what the cases do to it."""

    def __init__(self, e2e):
        from google.cloud.compute_v1 import InstancesClient

        self.e2e = e2e
        self.instances = e2e.srv.client(InstancesClient)
        self.tags = 0

    @property
    def vm(self):
        return self.e2e.vm(NAME)

    def sh(self, script, check=True, timeout=120):
        return self.vm.exec(["bash", "-c", script], check=check, timeout=timeout).stdout

    # ----- metadata (the API, as cos_container uses it)
    def metadata(self):
        return {i["key"]: i.get("value", "") for i in self.e2e.instance(NAME)["metadata"].get("items", [])}

    def set_metadata(self, **changes):
        """setMetadata with the current fingerprint; a value None deletes the key."""
        md = self.e2e.instance(NAME)["metadata"]
        items = {i["key"]: i.get("value", "") for i in md.get("items", [])}
        for key, value in changes.items():
            key = key.replace("_", "-")
            if value is None:
                items.pop(key, None)
            else:
                items[key] = value
        body = {"fingerprint": md["fingerprint"], "items": [{"key": k, "value": v} for k, v in sorted(items.items())]}
        self.e2e.api("POST", "zones/%s/instances/%s/setMetadata" % (DEFAULT_ZONE, NAME), body)
        wait_for(lambda: all(self.metadata().get(k.replace("_", "-")) == v for k, v in changes.items()),
                 "metadata set")

    def spec(self, name):
        return self.metadata()["cos-container-" + name]

    def new_tag(self, label):
        """Push the test image under a new tag; returns it."""
        from localgce.vm import registry

        self.tags += 1
        tag = "%s-%d" % (label, self.tags)
        self.e2e.digests["web:" + tag] = registry.push_web_image(self.e2e.vms.registry, "web", tag)
        return tag

    def with_tag(self, name, tag):
        """The unit text of container `name` with its image at `tag` (a new revision)."""
        return re.sub(r"/web:[A-Za-z0-9._-]+", "/web:" + tag, self.spec(name))

    def change(self, **tags):
        """Change containers' images in ONE setMetadata: name=tag."""
        self.set_metadata(**{"cos_container_" + n: self.with_tag(n, t) for n, t in tags.items()})

    # ----- what the agent says, what runs
    def attributes(self):
        from google.cloud.compute_v1 import GetGuestAttributesInstanceRequest

        got = self.instances.get_guest_attributes(request=GetGuestAttributesInstanceRequest(
            project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance=NAME, query_path="cos-agent/"))
        return {i.key: json.loads(i.value) for i in got.query_value.items}

    def truth(self):
        out = {}
        # Short: an exec into a VM that is being reset can hang; the sampler then tries again.
        for line in self.sh(TRUTH, timeout=10).splitlines():
            n, rev, img, job, act, state, cimage, image_id, digests = line.split("|")
            out[n] = {"revision": rev, "image": img, "job": job, "active": act, "docker": state,
                      "running_image": cimage, "image_id": image_id, "digests": digests.split()}
        return out

    def journal(self, since_cursor=None):
        args = ["journalctl", "-u", "cos-agent.service", "--no-pager", "-o", "cat"]
        if since_cursor:
            args += ["--after-cursor", since_cursor]
        return self.vm.exec(args).stdout

    def cursor(self):
        out = self.vm.exec(["journalctl", "-u", "cos-agent.service", "-n", "1", "--show-cursor", "--no-pager",
                            "-o", "cat"]).stdout
        m = re.search(r"-- cursor: (\S+)", out)
        return m.group(1) if m else None

    def converged(self):
        """Every container runs its metadata revision, and the agent reports exactly that."""
        md = self.metadata()
        want = {k[len("cos-container-"):]: v for k, v in md.items() if k.startswith("cos-container-")}
        truth = self.truth()
        if set(truth) != set(want):
            return False
        try:
            attrs = self.attributes()
        except Exception:  # guest attributes disabled: not converged yet
            return False
        if "agent" not in attrs:
            return False
        for name, text in want.items():
            t, a = truth[name], attrs.get(name)
            tag = text.split("# cos-image: ", 1)[1].split("\n", 1)[0].rsplit(":", 1)[1]
            ok = (t["revision"] == revision(text) and not t["job"] and t["active"] == "active"
                  and t["docker"] == "running" and t["running_image"] == t["image"]
                  and a is not None and a["state"] == "running" and a["revision"] == revision(text)
                  and a["digest"] == self.e2e.digests["web:" + tag] and a["image"] == t["image"])
            if not ok:
                return False
        return not attrs["agent"]["error"]

    def wait_converged(self, what="converged"):
        wait_for(self.converged, what, tries=600, pause=0.5,
                 message=lambda: "truth %s\nattributes %s\njournal:\n%s" % (
                     self.truth(), self.attributes(), self.journal()[-4000:]))

    # ----- data
    def data(self):
        """What must survive every fault: the disk's filesystem, the starts the containers
        recorded (append-only), a sentinel on the disk and one under /var."""
        uuid = self.vm.exec(["blkid", "-p", "-s", "UUID", "-o", "value", DISK_DEV], check=True).stdout.strip()
        out = {"uuid": uuid, "formats": self.e2e.serial(NAME).count(FORMAT_LINE)}
        for name, path in DATA.items():
            for f in ("first", "starts", "sentinel"):
                out[name, f] = self.sh("cat %s/%s" % (path, f))
        return out

    def write_sentinels(self):
        for path in DATA.values():
            self.sh("head -c 4096 /dev/urandom | base64 > %s/sentinel.tmp && sync && mv %s/sentinel.tmp %s/sentinel"
                    % (path, path, path))
        # Flushed, with everything written so far (the containers' starts): a power cut keeps
        # what a case reads before its fault (the simulator's disks keep only flushed writes).
        self.sh("sync")

    def starts(self, name, tag):
        # A power cut can leave the unflushed tail of an appended file as NUL bytes (ext4 had
        # committed the new size, not the data), before the lines the next boot appends.
        return self.sh("cat %s/starts" % DATA[name]).replace("\0", " ").split().count(tag)

    # ----- the agent's test set-up (in /etc: a reset drops it, as COS drops /etc)
    def install_drop_in(self):
        self.sh("mkdir -p /etc/systemd/system/cos-agent.service.d /etc/cos-agent-chaos && "
                "cat > /etc/systemd/system/cos-agent.service.d/chaos.conf <<'EOF'\n%sEOF\n"
                "cat > /etc/cos-agent-chaos/clock.bash <<'EOF'\n%sEOF\n"
                "echo 0 > %s; systemctl daemon-reload && systemctl restart cos-agent.service"
                % (DROP_IN, CLOCK_SHIM, CLOCK_OFFSET))

    def has_drop_in(self):
        return self.vm.exec(["test", "-f", "/etc/systemd/system/cos-agent.service.d/chaos.conf"]).returncode == 0

    def heal(self):
        """Undo every fault a case may have left."""
        self.e2e.srv.app.guest_faults.clear()
        self.sh("iptables -D OUTPUT -p tcp -d 169.254.169.254 -j REJECT --reject-with tcp-reset 2>/dev/null; "
                "rm -rf %s; echo 0 > %s; true" % (HOOKS, CLOCK_OFFSET))


class Sampler(threading.Thread):
    """Compares the guest attributes with what runs, over and over, while a fault goes on.

    A report can be late (the agent notices a crash at its next poll), so a claim that does not
    match what runs is a lie when
    - it was published (its `time`) after the sampler saw what runs now, unchanged since: the
      agent published it against what ran before and after; or
    - it is still there, unchanged, after the agent published two more heartbeats: it had a
      full poll to correct it."""

    def __init__(self, chaos):
        super().__init__(daemon=True)
        self.chaos = chaos
        self.stop = threading.Event()
        self.samples = 0
        self.errors = []
        self.violations = []
        self.heartbeats = 0
        self._last_heartbeat = None
        self._suspects = {}  # (name, claim json) -> heartbeat count when first seen wrong
        self._seen = {}  # name -> (what runs, when the sampler first saw it, host clock)

    def run(self):
        while not self.stop.is_set():
            try:
                self.sample()
            except Exception as exc:  # a VM rebooting, attributes disabled
                self.errors.append(repr(exc)[:300])
            self.stop.wait(0.3)

    def sample(self):
        attrs = self.chaos.attributes()
        truth = self.chaos.truth()
        seen_at = time.time()
        for name, t in truth.items():
            if self._seen.get(name, (None,))[0] != t:
                self._seen[name] = (t, seen_at)
        hb = attrs.get("agent")
        if hb is not None and hb != self._last_heartbeat:
            self._last_heartbeat = hb
            self.heartbeats += 1
        self.samples += 1
        for name, claim in attrs.items():
            if name == "agent" or claim.get("state") != "running":
                continue
            why = self.wrong(claim, truth.get(name))
            key = (name, json.dumps(claim, sort_keys=True))
            if not why:
                self._suspects.pop(key, None)
                continue
            first = self._suspects.setdefault(key, self.heartbeats)
            published = calendar.timegm(time.strptime(claim["time"], "%Y-%m-%dT%H:%M:%SZ"))
            since = self._seen.get(name, (None, float("inf")))[1]
            if self.heartbeats >= first + 2 or since < published:
                self.violations.append("%s claims %s but %s (truth %s, unchanged since %.1f)"
                                       % (name, claim, why, truth.get(name), since))
        for key in [k for k in self._suspects if k[0] not in attrs or json.dumps(attrs[k[0]], sort_keys=True) != k[1]]:
            del self._suspects[key]

    @staticmethod
    def wrong(claim, t):
        if t is None:
            return "no unit exists"
        if t["docker"] != "running":
            return "docker says %r" % t["docker"]
        if t["running_image"] != claim["image"]:
            return "%s runs" % t["running_image"]
        if t["revision"] != claim["revision"]:
            return "the unit is revision %s" % t["revision"]
        digests = {d.split("@", 1)[1] for d in t["digests"]} | {t["image_id"]}
        if claim["digest"] not in digests:
            return "the image is %s" % sorted(digests)
        return None

    def finish(self):
        self.stop.set()
        self.join(timeout=60)
        assert self.samples >= 5, "the sampler hardly ran (%d samples): %s" % (self.samples, self.errors[-5:])
        assert not self.violations, self.violations[:5]


@pytest.fixture(scope="module")
def chaos(e2e, tmp_path_factory):
    run = e2e.deploy(tmp_path_factory.mktemp("deploy"), "chaos.yml")
    assert run.rc == 0, run
    c = Chaos(e2e)
    c.install_drop_in()
    c.wait_converged()
    return c


class Fault:
    """One case: started on a converged VM with fresh sentinels and a running sampler;
    ``verify()`` (each case's last step) checks (a), (b) and (c)."""

    def __init__(self, chaos):
        self.chaos = chaos
        chaos.wait_converged("converged before the case")
        chaos.write_sentinels()
        self.before = chaos.data()
        self.sampler = Sampler(chaos)
        self.sampler.start()

    def verify(self):
        chaos, before = self.chaos, self.before
        chaos.wait_converged("converged after the fault")  # (a)
        after = chaos.data()  # (b)
        # Same filesystem (mkfs gives a new UUID), formatted once in all boots.
        assert (after["uuid"], after["formats"]) == (before["uuid"], 1), (before["uuid"], after["uuid"])
        for name in DATA:
            assert after[name, "first"] == before[name, "first"], name
            assert after[name, "sentinel"] == before[name, "sentinel"], name
            assert after[name, "starts"].startswith(before[name, "starts"]), name  # append-only
        self.sampler.finish()  # (c)


@pytest.fixture
def fault(chaos):
    if not chaos.has_drop_in():
        chaos.install_drop_in()
    chaos.heal()
    case = Fault(chaos)
    try:
        yield case
    finally:
        case.sampler.stop.set()
        chaos.heal()


def agent_pid(chaos):
    pid = chaos.vm.exec(["systemctl", "show", "-p", "MainPID", "--value", "cos-agent.service"]).stdout.strip()
    assert pid not in ("", "0"), pid
    return pid


def outage_on(chaos):
    """The metadata server becomes unreachable from the VM: connections are reset."""
    chaos.sh("iptables -I OUTPUT -p tcp -d 169.254.169.254 -j REJECT --reject-with tcp-reset")


def outage_off(chaos):
    chaos.sh("iptables -D OUTPUT -p tcp -d 169.254.169.254 -j REJECT --reject-with tcp-reset")


def count_after(chaos, cursor, text):
    return chaos.journal(cursor).count(text)


def test_agent_killed_between_writing_units_and_starting_them(chaos, fault):
    tag_f, tag_b = chaos.new_tag("kill"), chaos.new_tag("kill")
    chaos.sh("mkdir -p %s && touch %s/before-start" % (HOOKS, HOOKS))
    cursor = chaos.cursor()
    chaos.change(front=tag_f, back=tag_b)
    wait_for(lambda: chaos.vm.exec(["test", "-e", HOOKS + "/before-start.reached"]).returncode == 0,
             "the agent at its hook between the units and their starts", message=lambda: chaos.journal()[-3000:])
    # Both units are written with the new revision; neither is started.
    truth = chaos.truth()
    assert {n: t["revision"] for n, t in truth.items()} == {n: revision(chaos.spec(n)) for n in CONTAINERS}
    assert tag_f not in truth["front"]["running_image"] and tag_b not in truth["back"]["running_image"]
    pid = agent_pid(chaos)
    chaos.sh("kill -KILL %s; rm -rf %s" % (pid, HOOKS))
    chaos.wait_converged()  # systemd restarts the agent, which finishes the apply
    assert agent_pid(chaos) != pid
    journal = chaos.journal(cursor)
    assert "test hook before-start: waiting" in journal
    # Each container started exactly once at its new revision.
    assert chaos.starts("front", tag_f) == 1 and chaos.starts("back", tag_b) == 1
    fault.verify()


def test_dockerd_restarts_while_running_and_during_a_pull(chaos, fault):
    starts = chaos.sh("cat %s/starts" % DATA["front"]).split()
    chaos.sh("systemctl restart docker.service")
    # systemd brings both containers back (Restart=always), the reports follow.
    wait_for(lambda: len(chaos.sh("cat %s/starts" % DATA["front"]).split()) > len(starts), "front restarted")
    chaos.wait_converged()
    tag = chaos.new_tag("docker")
    cursor = chaos.cursor()
    chaos.change(front=tag)
    wait_for(lambda: "restarting container front" in chaos.journal(cursor), "the agent restarting front")
    chaos.sh("systemctl restart docker.service")
    chaos.wait_converged()
    assert chaos.starts("front", tag) >= 1
    fault.verify()


def test_reset_during_a_rollout(chaos, fault):
    tag_f, tag_b = chaos.new_tag("reset"), chaos.new_tag("reset")
    boot = chaos.vm.boot_id()
    cursor = chaos.cursor()
    chaos.change(front=tag_f, back=tag_b)
    wait_for(lambda: "restarting container" in chaos.journal(cursor), "the rollout under way")
    chaos.e2e.reset(NAME)
    assert chaos.vm.boot_id() != boot
    # After the boot cloud-init starts the agent again (without the suite's drop-in).
    chaos.wait_converged()
    assert chaos.starts("front", tag_f) >= 1 and chaos.starts("back", tag_b) >= 1
    serial = chaos.e2e.serial(NAME).rsplit("===== gce-cos simulator: boot", 1)[1]
    assert "ext4, checked" in serial and FORMAT_LINE not in serial
    fault.verify()


def test_metadata_server_unreachable_longer_than_the_watch_timeout(chaos, fault):
    tag = chaos.new_tag("outage")
    cursor = chaos.cursor()
    outage_on(chaos)
    try:
        # Backoff reached its cap twice: the outage lasts longer than a watch timeout.
        capped = "retrying in %ds" % BACKOFF_MAX
        wait_for(lambda: count_after(chaos, cursor, capped) >= 2 + WATCH_TIMEOUT // BACKOFF_MAX,
                 "the agent backing off", tries=400, pause=0.5, message=lambda: chaos.journal(cursor)[-3000:])
        chaos.change(front=tag)
        mark = chaos.cursor()
        wait_for(lambda: count_after(chaos, mark, "retrying in") >= 2, "the agent still backing off")
        assert chaos.starts("front", tag) == 0
    finally:
        outage_off(chaos)
    chaos.wait_converged()
    journal = chaos.journal(cursor)
    assert journal.count("restarting container front") == 1, journal[-3000:]
    assert "restarting container back" not in journal
    assert chaos.starts("front", tag) == 1
    fault.verify()


def test_var_full(chaos, fault):
    """The agent's state directory (on /var) has no space left. The simulator's /var is a
    directory of the host, so a small tmpfs with a copy of the state is put over it and filled."""
    tag = chaos.new_tag("full")
    vm = chaos.vm
    # /run/chaos-under is made private: a peer of /var's shared mount would get the tmpfs too, and the copy
    # back would copy the tmpfs onto itself, leaving /var with the records of before the case.
    chaos.sh("mkdir -p /run/chaos-full /run/chaos-under && mount --bind %s /run/chaos-under && "
             "mount --make-private /run/chaos-under && mount -t tmpfs -o size=8m tmpfs /run/chaos-full && "
             "cp -a %s/. /run/chaos-full/ && mount --bind /run/chaos-full %s" % (STATE_DIR, STATE_DIR, STATE_DIR))
    try:
        chaos.sh("dd if=/dev/zero of=%s/fill bs=64k 2>/dev/null; true" % STATE_DIR)
        cursor = chaos.cursor()
        chaos.change(front=tag)
        wait_for(lambda: "no space left" in chaos.attributes()["agent"]["error"], "the agent reporting the full disk",
                 message=lambda: chaos.journal(cursor)[-3000:])
        # Nothing applied, the containers keep running, the records are whole.
        wait_for(lambda: count_after(chaos, cursor, "no space left") >= 3, "the agent retrying")
        assert chaos.starts("front", tag) == 0
        records = chaos.sh("for f in %s/applied/*; do echo \"${f##*/} $(cat $f)\"; done" % STATE_DIR).splitlines()
        assert sorted(r.split()[0] for r in records) == sorted(CONTAINERS), records
        assert all(re.fullmatch(r"\S+ [0-9a-f]{16} \d+", r) for r in records), records
        assert chaos.truth()["front"]["docker"] == "running"
        chaos.sh("rm -f %s/fill" % STATE_DIR)
        chaos.wait_converged()
        assert chaos.starts("front", tag) == 1
        assert not chaos.sh("ls -A %s/applied | grep '\\.tmp$'; true" % STATE_DIR)
    finally:
        # Back onto /var, with the records the agent wrote meanwhile. The agent is stopped for the
        # copy: a record it renamed into place between the copy and the unmount would be lost.
        vm.exec(["bash", "-c", "systemctl stop cos-agent.service; rm -f %s/fill; cp -a %s/. /run/chaos-under/ && "
                 "umount -l %s && umount -l /run/chaos-full && umount -l /run/chaos-under; rc=$?; "
                 "systemctl start cos-agent.service; exit $rc" % (STATE_DIR, STATE_DIR, STATE_DIR)], check=True)
    fault.verify()


def test_guest_attributes_refused_then_disabled(chaos, fault):
    guest_faults = chaos.e2e.srv.app.guest_faults
    tag, tag2 = chaos.new_tag("refused"), chaos.new_tag("disabled")
    cursor = chaos.cursor()
    refused = guest_faults.add({"instance": NAME, "method": "PUT", "path": "^instance/guest-attributes/",
                                "status": 503})
    chaos.change(front=tag)
    wait_for(lambda: chaos.truth()["front"]["running_image"].endswith(":" + tag) and
             chaos.truth()["front"]["docker"] == "running", "front running the new image")
    wait_for(lambda: refused["hits"] >= 4, "the agent trying to publish", tries=600, pause=0.5)
    guest_faults.clear()
    chaos.wait_converged()
    journal = chaos.journal(cursor)
    assert journal.count("not published") == 1, journal[-3000:]
    assert journal.count("guest attributes published again") == 1, journal[-3000:]

    cursor = chaos.cursor()
    since = time.time()
    chaos.set_metadata(enable_guest_attributes="FALSE", cos_container_front=chaos.with_tag("front", tag2))
    wait_for(lambda: chaos.truth()["front"]["running_image"].endswith(":" + tag2) and
             chaos.truth()["front"]["docker"] == "running", "front running the new image")
    wait_for(lambda: len([r for r in chaos.e2e.srv.guest_requests() if r["time"] > since and r["method"] == "PUT"
                          and r["status"] == 403]) >= 4, "the agent trying to publish", tries=600, pause=0.5)
    chaos.set_metadata(enable_guest_attributes="TRUE")
    chaos.wait_converged()
    journal = chaos.journal(cursor)
    assert journal.count("not published") == 1, journal[-3000:]
    assert chaos.starts("front", tag) == 1 and chaos.starts("front", tag2) == 1
    fault.verify()


def test_spec_changes_again_during_the_pull(chaos, fault):
    tag_a, tag_b = chaos.new_tag("older"), chaos.new_tag("newer")
    cursor = chaos.cursor()
    chaos.change(front=tag_a)
    wait_for(lambda: "restarting container front" in chaos.journal(cursor), "the agent restarting front")
    chaos.change(front=tag_b)
    chaos.wait_converged()
    truth = chaos.truth()
    assert sorted(truth) == sorted(CONTAINERS)
    assert truth["front"]["image"].endswith(":" + tag_b) and truth["front"]["running_image"] == truth["front"]["image"]
    units = chaos.sh("ls -A /etc/systemd/system | grep cos-container; ls -A %s/applied" % STATE_DIR).split()
    assert sorted(units) == sorted(["cos-container-back.service", "cos-container-front.service", "back", "front"])
    assert chaos.sh("docker ps -a --format '{{.Names}}'").split().count("front") == 1
    assert chaos.sh("cat %s/applied/front" % STATE_DIR).split()[0] == revision(chaos.spec("front"))
    assert chaos.starts("front", tag_b) == 1
    fault.verify()


def test_clock_jumps_back_an_hour(chaos, fault):
    tag = chaos.new_tag("clock")
    cursor = chaos.cursor()
    outage_on(chaos)
    try:
        wait_for(lambda: count_after(chaos, cursor, "retrying in") >= 2, "the agent backing off",
                 message=lambda: chaos.journal(cursor)[-3000:])
        chaos.sh("echo 3600 > %s" % CLOCK_OFFSET)  # during the backoff
        chaos.change(front=tag)
        mark = chaos.cursor()
        wait_for(lambda: count_after(chaos, mark, "retrying in %ds" % BACKOFF_MAX) >= 2, "backoff at its cap",
                 tries=400, pause=0.5)
    finally:
        outage_off(chaos)
    # The backoff ended, the change was applied, and the container settled (the busy polls
    # that follow a start ended too).
    chaos.wait_converged()
    assert chaos.starts("front", tag) == 1
    # The agent's clock is an hour behind: its next heartbeat says so. The one read first may still be
    # from before the outage (the container reports go out first, and the heartbeat comes every
    # WATCH_TIMEOUT seconds within the guest-attribute budget).
    seen = []

    def heartbeat_behind():
        heartbeat = chaos.attributes()["agent"]
        seen[:] = [heartbeat]
        return calendar.timegm(time.strptime(heartbeat["time"], "%Y-%m-%dT%H:%M:%SZ")) < time.time() - 3000

    wait_for(heartbeat_behind, "a heartbeat written by the agent's clock, an hour behind", tries=30, pause=2,
             message=lambda: "last heartbeat: %s" % seen)
    # Back to long polls of the full watch timeout: the busy polls after the start ended.
    path = "/_localgce/guest/%s/%s/%s/computeMetadata/v1/instance/attributes/" % (DEFAULT_PROJECT, DEFAULT_ZONE, NAME)
    wait_for(lambda: [r["query"].get("timeout_sec") for r in chaos.e2e.srv.guest_requests()
                      if r["path"] == path and "timeout_sec" in r["query"]][-1] == str(WATCH_TIMEOUT),
             "the agent watching with its full timeout")
    fault.verify()


def plant_report(chaos, name, claim):
    """Publish `claim` as container `name`'s report, through the VM's metadata server as the agent does."""
    url = "http://metadata.google.internal/computeMetadata/v1/instance/guest-attributes/cos-agent/" + name
    chaos.sh("curl -sSf -X PUT -H 'Metadata-Flavor: Google' --data-binary @- %s <<'EOF'\n%s\nEOF"
             % (url, json.dumps(claim)))


def test_the_sampler_catches_a_planted_lie(chaos, fault):
    """Check (c) can fail: with the agent stopped (so nothing corrects it), a fresh report that
    names an image front does not run, and then a fresh 'running' report for a stopped
    container, are each caught as lies."""
    sampler = fault.sampler
    chaos.sh("systemctl stop cos-agent.service")
    try:
        true_claim = chaos.attributes()["front"]
        wait_for(lambda: sampler.samples >= 3, "the sampler under way")
        time.sleep(1.1)  # a report's time has whole seconds: publish it after the sampler saw what runs
        lie = dict(true_claim, image=true_claim["image"].rsplit(":", 1)[0] + ":not-running",
                   time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        plant_report(chaos, "front", lie)
        wait_for(lambda: sampler.violations, "the sampler catching the wrong image", tries=120, pause=0.5)
        assert "front claims" in sampler.violations[0] and ":not-running" in sampler.violations[0]
        with pytest.raises(AssertionError, match="front claims"):  # pytest shortens the message: its start
            sampler.finish()

        stopped = Sampler(chaos)
        chaos.sh("systemctl stop cos-container-front.service")
        stopped.start()
        try:
            wait_for(lambda: stopped.samples >= 3, "the second sampler under way")
            time.sleep(1.1)
            plant_report(chaos, "front", dict(true_claim, time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            wait_for(lambda: stopped.violations, "the sampler catching a stopped container", tries=120, pause=0.5)
            assert "front claims" in stopped.violations[0] and "docker says" in stopped.violations[0]
            with pytest.raises(AssertionError, match="front claims"):
                stopped.finish()
        finally:
            stopped.stop.set()
    finally:
        chaos.sh("systemctl start cos-container-front.service; systemctl start cos-agent.service")
    chaos.wait_converged("the agent's true report back")


# ---------------------------------------------------------------- power cuts (the write log)

RECORD = re.compile(r"^[0-9a-f]{16} [0-9]+\n$")


def records_after_the_cut(vm):
    """The agent's apply records as the next boot will find them: the stateful volume's image,
    copied, its journal replayed (e2fsck, as a mount would), read with debugfs. {name: text}"""
    copy = os.path.join(vm.state_dir, "stateful-after-cut.img")
    subprocess.run(["cp", "--sparse=always", vm.stateful_image, copy], check=True)
    try:
        fsck = subprocess.run(["e2fsck", "-fy", copy], capture_output=True, text=True)
        assert fsck.returncode < 4, fsck.stdout + fsck.stderr
        ls = subprocess.run(["debugfs", "-R", "ls -p /applied", copy], capture_output=True, text=True, check=True)
        out = {}
        for line in ls.stdout.splitlines():  # /inode/mode/uid/gid/name/size/
            parts = line.strip().split("/")
            if len(parts) >= 7 and parts[5] not in (".", "..") and parts[2].startswith("10"):
                out[parts[5]] = subprocess.run(["debugfs", "-R", "cat /applied/" + parts[5], copy],
                                               capture_output=True, text=True, check=True).stdout
        return out
    finally:
        os.unlink(copy)


def stateful_flushes(vm):
    with open(os.path.join(vm.state_dir, "writelog.log")) as f:
        return f.read().count("flush stateful ")


@pytest.mark.parametrize("point", ["before-start", "after-record"])
def test_power_cut_during_an_apply(chaos, fault, point):
    """The power is cut while the agent applies a new revision of front and brings back a
    container it had removed (back: its record is a new file). After the cut the stateful
    volume holds no empty or torn record, and once the agent has recorded the apply
    (after-record), the records of the new revisions; the next boot converges, the agent's
    report matches what runs, and the data disk is not formatted again."""
    spec_back = chaos.spec("back")
    chaos.set_metadata(cos_container_back="")  # removed (an emptied key)
    wait_for(lambda: chaos.vm.exec(["test", "-e", STATE_DIR + "/applied/back"]).returncode != 0,
             "back removed by the agent", message=lambda: chaos.journal()[-3000:])
    tag_f, tag_b = chaos.new_tag("cut"), chaos.new_tag("cut")
    chaos.sh("mkdir -p %s && touch %s/%s" % (HOOKS, HOOKS, point))
    new_back = re.sub(r"/web:[A-Za-z0-9._-]+", "/web:" + tag_b, spec_back)
    chaos.set_metadata(cos_container_front=chaos.with_tag("front", tag_f), cos_container_back=new_back)
    wait_for(lambda: chaos.vm.exec(["test", "-e", "%s/%s.reached" % (HOOKS, point)]).returncode == 0,
             "the agent at its hook %s" % point, message=lambda: chaos.journal()[-3000:])
    # ext4 commits its journal (a flush through the write log) within seconds: wait for one,
    # so that the cut comes after the renames reached the journal.
    flushes = stateful_flushes(chaos.vm)
    wait_for(lambda: stateful_flushes(chaos.vm) > flushes, "a flush of the stateful volume", tries=600)
    boot = chaos.vm.boot_id()
    seen = {}
    chaos.vm.reset(hard=True, while_off=lambda: seen.update(records_after_the_cut(chaos.vm)))

    torn = {n: t for n, t in seen.items() if not RECORD.match(t)}
    assert not torn, "empty or torn records after the cut: %s" % torn
    if point == "after-record":
        assert seen.get("back", "").split(" ")[0] == revision(new_back), seen
        assert seen.get("front", "").split(" ")[0] == revision(chaos.spec("front")), seen
    assert chaos.vm.boot_id() != boot
    # The boot dropped the suite's drop-in (/etc is new): its hooks are off.
    chaos.wait_converged()
    assert chaos.starts("front", tag_f) >= 1 and chaos.starts("back", tag_b) >= 1
    serial = chaos.e2e.serial(NAME).rsplit("===== gce-cos simulator: boot", 1)[1]
    assert "ext4, checked" in serial and FORMAT_LINE not in serial
    fault.verify()
