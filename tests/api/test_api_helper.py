"""The API helper (GCE_COS_API_HELPER) through real ansible-playbook runs against localgce over HTTP.

Each run gets its own short XDG_RUNTIME_DIR, so the helper's directory and sockets are the
test's own. tests/api/api_helper_probe.py, run by a play's command task, reports the helpers
(pid, scopes, clients) while the play runs; after the play each pid must be gone.
"""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from localgce.testing import DEFAULT_PROJECT, DEFAULT_ZONE, LocalGCE

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(ROOT, ".build", "pythonpath")
PROBE = os.path.join(ROOT, "tests", "api", "api_helper_probe.py")
_STRIP = ("GCP_", "GCE_", "GOOGLE_", "CLOUDSDK_", "ANSIBLE_", "XDG_RUNTIME_DIR")
# Fields that differ between two runs creating the same resources (ids, times, addresses).
_VOLATILE = {"id", "creationTimestamp", "fingerprint", "labelFingerprint", "networkIP", "natIP", "lastStartTimestamp",
             "external_ip", "internal_ip", "invocation", "warnings", "delta", "start", "end", "stdout", "stdout_lines",
             "cmd"}


@pytest.fixture(scope="module")
def lgce():
    srv = LocalGCE.start()
    yield srv
    srv.stop()


@pytest.fixture
def run_dir():
    # Short: a unix socket path must fit in 108 bytes.
    path = tempfile.mkdtemp(prefix="gch", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def make_env(lgce, run_dir, tmp_path, helper, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "GCE_COS_API_ENDPOINT": lgce.url,
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
        "GCE_COS_RETRY_INITIAL_DELAY": "0.01",
        "GCP_PROJECT": DEFAULT_PROJECT,
        "GCP_AUTH_KIND": "accesstoken",
        "GCP_ACCESS_TOKEN": "helper-test-token",
        "XDG_RUNTIME_DIR": run_dir,
        "GCE_COS_API_HELPER": "1" if helper else "0",
        "GCE_COS_API_HELPER_LOG": os.path.join(run_dir, "helper.log"),
        "PATH": BIN + os.pathsep + os.environ.get("PATH", ""),
    })
    env.update(extra)
    return env


def probe_task(run_dir, kill=False, stop=False):
    cmd = [sys.executable, PROBE, run_dir] + (["--kill"] if kill else []) + (["--stop"] if stop else [])
    return {"name": "probe", "ansible.builtin.command": {"argv": cmd}, "changed_when": False,
            "check_mode": False}


def write_play(tmp_path, tasks, hosts="localhost", name="play"):
    """A play (as JSON, which YAML reads) whose task results land in results.json, keyed by task index."""
    registered = []
    body = []
    for i, task in enumerate(tasks):
        task = dict(task)
        task.setdefault("register", "r%d" % i)
        registered.append(task["register"])
        body.append(task)
    results = "{{ {%s} | to_json }}" % ", ".join("'%s': %s" % (r, r) for r in registered)
    dest = str(tmp_path / ("%s-{{ inventory_hostname }}.json" % name))
    body.append({"check_mode": False, "ansible.builtin.copy": {"content": results, "dest": dest}})
    play = [{"hosts": hosts, "gather_facts": False, "connection": "local", "tasks": body}]
    path = tmp_path / (name + ".yml")
    path.write_text(json.dumps(play, indent=1))
    return path


def results(tmp_path, name="play", host="localhost"):
    with open(tmp_path / ("%s-%s.json" % (name, host))) as handle:
        return json.load(handle)


def ansible_playbook(env, path, *args, inventory="localhost,"):
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", inventory, str(path), *list(args)],
                          env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    return proc


def probe_of(result):
    return json.loads(result["stdout"])


def wait_gone(pid, within=30.0):
    """True once no process has ``pid``; the helper notices its play's end within a second."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not os.path.exists("/proc/%d" % pid) or _zombie(pid):
            return True
        time.sleep(0.1)
    return False


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def normalise(value):
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in _VOLATILE}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def differences(a, b, path=""):
    """Where two results differ, for the assertion message."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key), b.get(key), path + "." + key)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, "%s[%d]" % (path, i))]
    return [] if a == b else ["%s: %r != %r" % (path, a, b)]


def mutations(requests):
    return [(r["method"], r["path"]) for r in requests if r["mutating"]]


def scenario(suffix, run_dir):
    zone = DEFAULT_ZONE
    return [
        {"gce.cos.cos_disk": {"name": "hd-" + suffix, "zone": zone, "size_gb": 10}},
        {"gce.cos.cos_firewall": {"name": "hf-" + suffix, "ports": ["80/tcp"], "target_tags": ["hv-" + suffix]}},
        {"gce.cos.cos_instance": {"name": "hv-" + suffix, "zone": zone, "network_tags": ["hv-" + suffix],
                                  "labels": {"app": "helper"}}},
        {"gce.cos.cos_instance_info": {"zone": zone, "name": "hv-" + suffix}},
        {"gce.cos.cos_instance_info": {"zone": zone, "name": "absent-" + suffix}},
        probe_task(run_dir),
    ]


def test_on_and_off_give_the_same_results_and_requests(lgce, run_dir, tmp_path):
    """Check mode, a create and a re-run: same results, same mutating requests; the module imports no google."""
    site = tmp_path / "site"
    site.mkdir()
    # Each module process (AnsiballZ_*) records the google packages it imported.
    (site / "sitecustomize.py").write_text(
        "import atexit, json, os, sys\n"
        "def _dump():\n"
        "    if any('AnsiballZ_' in a for a in sys.argv):\n"
        "        mods = sorted(m for m in sys.modules if m.split('.')[0] in ('google', 'grpc', 'proto'))\n"
        "        with open(os.path.join(%r, 'mods-%%d.json' %% os.getpid()), 'w') as f:\n"
        "            json.dump(mods, f)\n"
        "atexit.register(_dump)\n" % str(site)
    )
    seen = {}
    for helper in (False, True):
        lgce.reset()
        for old in site.glob("mods-*.json"):
            old.unlink()
        env = make_env(lgce, run_dir, tmp_path, helper, PYTHONPATH=str(site))
        path = write_play(tmp_path, scenario("x", run_dir))
        runs = []
        for args in (["--check"], [], []):
            lgce.clear_requests()
            ansible_playbook(env, path, *args)
            got = results(tmp_path)
            runs.append((normalise({k: v for k, v in got.items() if k != "r5"}), mutations(lgce.requests()),
                         probe_of(got["r5"])))
        imports = [json.loads(p.read_text()) for p in site.glob("mods-*.json")]
        assert len(imports) >= 15, "every module run recorded its imports"
        seen[helper] = (runs, imports)

    (off, off_imports), (on, on_imports) = seen[False], seen[True]
    for (off_result, off_mut, _), (on_result, on_mut, _probe) in zip(off, on, strict=False):
        assert on_result == off_result, differences(on_result, off_result)
        assert on_mut == off_mut
    assert off[0][1] == [] and off[2][1] == [], "check mode and the re-run send no mutation"
    assert off[1][0]["r0"]["changed"] and not off[2][0]["r0"]["changed"]
    # Off: no helper, and the modules import google-cloud-compute themselves.
    assert all(not r[2]["helpers"] for r in off)
    assert any("google.cloud.compute_v1.types.compute" in mods for mods in off_imports)
    # On: one helper per play, and no module process imported anything of google.
    assert all(mods == [] for mods in on_imports), on_imports
    pids = [r[2]["helpers"][0]["pid"] for r in on]
    assert all(len(r[2]["helpers"]) == 1 for r in on)
    assert len(set(pids)) == 3, "each play has its own helper"
    for pid in pids:
        assert wait_gone(pid), "helper %d still runs after its play" % pid


def test_private_directory_and_socket(lgce, run_dir, tmp_path):
    env = make_env(lgce, run_dir, tmp_path, True)
    path = write_play(tmp_path, [{"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "p"}},
                                 probe_task(run_dir)])
    ansible_playbook(env, path)
    probe = probe_of(results(tmp_path)["r1"])
    assert probe["dir_mode"] == "0o700"
    sockets = [f for f in probe["files"].values() if f["socket"]]
    assert len(sockets) == 1
    assert probe["files"]["code"]["mode"] == "0o700", "the code cache's directory"
    assert [n for n in probe["files"] if n.startswith("code/")], "the module's compiled module_utils were kept"
    for name, info in probe["files"].items():
        assert info["mode"] == ("0o700" if name == "code" else "0o600") and info["uid"] == os.getuid(), name
    assert wait_gone(probe["helpers"][0]["pid"])
    # The play's socket and lock are gone with the helper; the code cache (no process, no credential) stays.
    assert os.listdir(os.path.join(run_dir, "gce-cos")) == ["code"]


def test_a_directory_that_is_not_private_is_refused(lgce, run_dir, tmp_path):
    os.mkdir(os.path.join(run_dir, "gce-cos"), 0o755)
    os.chmod(os.path.join(run_dir, "gce-cos"), 0o755)
    env = make_env(lgce, run_dir, tmp_path, True)
    path = write_play(tmp_path, [{"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "p"}}])
    ansible_playbook(env, path)
    result = results(tmp_path)["r0"]
    assert result["instances"] == [] and not result.get("failed")
    assert any("not a private directory" in w for w in result["warnings"]), result
    assert os.listdir(os.path.join(run_dir, "gce-cos")) == []


@pytest.fixture
def key_file(tmp_path, rsa_key_pem, lgce):
    """A real service-account key whose token_uri is this localgce's OAuth2 endpoint."""
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "key-project", "private_key_id": "k1", "private_key": rsa_key_pem,
        "client_email": "deployer@key-project.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": lgce.url + "/token",
    }))
    return path


def test_scopes_never_share_a_client_and_a_token_is_refreshed_once(lgce, run_dir, tmp_path, key_file):
    """Different tokens, keys, projects and endpoints get their own clients; one key's credentials are built and
    signed once."""
    other_endpoint = lgce.url.replace("127.0.0.1", "localhost")
    info = {"zone": DEFAULT_ZONE, "name": "none"}
    key = {"auth_kind": "serviceaccount", "service_account_file": str(key_file)}
    tasks = [
        {"gce.cos.cos_instance_info": info},
        {"gce.cos.cos_instance_info": info},  # same scope as the first: reused
        {"gce.cos.cos_instance_info": dict(info, access_token="another-token")},
        {"gce.cos.cos_instance_info": dict(info, project="other-project")},
        {"gce.cos.cos_instance_info": dict(info, api_endpoint=other_endpoint)},
        {"gce.cos.cos_instance_info": dict(info, **key)},
        {"gce.cos.cos_instance_info": dict(info, project="key-project-2", **key)},
        {"gce.cos.cos_instance_info": dict(info, **key)},
        probe_task(run_dir),
    ]
    lgce.clear_requests()
    ansible_playbook(make_env(lgce, run_dir, tmp_path, True), write_play(tmp_path, tasks))
    got = results(tmp_path)
    for i in range(8):
        assert got["r%d" % i]["instances"] == [], got["r%d" % i]
    helpers = probe_of(got["r8"])["helpers"]
    assert len(helpers) == 1
    scopes = helpers[0]["scopes"]
    keys = sorted((s["credential"], s["project"], s["endpoint"]) for s in scopes)
    assert len(keys) == 6 == len(set(keys)), scopes
    # Every connection (task) builds its own instances client: no requests session serves two threads.
    assert sorted((s["connections"], s["clients_built"]) for s in scopes) == [(1, 1)] * 4 + [(2, 2)] * 2, scopes
    credentials = {s["credential"] for s in scopes}
    assert len(credentials) == 3, "two tokens and one key"
    key_scopes = [s for s in scopes if s["refreshes"]]
    assert len(key_scopes) == 2 and {s["refreshes"] for s in key_scopes} == {1}
    assert len(key_scopes) == 2 and key_scopes[0]["credential"] == key_scopes[1]["credential"]
    # The key signs its own JWT on the helper path as on the plain path (gcp_auth.build_credentials for both):
    # no token exchange at its token_uri, and every API request carried a bearer.
    tokens = [r for r in lgce.requests() if r["path"] == "/token"]
    assert tokens == [], "the helper exchanged the key at its token_uri"
    assert all(r["auth"] for r in lgce.requests() if r["path"].startswith("/compute/"))
    assert wait_gone(helpers[0]["pid"])


def test_forks_are_served_concurrently(lgce, run_dir, tmp_path):
    """Six hosts, forks=6, each creating its own disk while operations take a while."""
    lgce.reset()
    lgce.config(operation_delay=3)
    try:
        hosts = ["h%d" % i for i in range(6)]
        inventory = tmp_path / "hosts.ini"
        inventory.write_text("[fleet]\n" + "\n".join("%s ansible_connection=local" % h for h in hosts) + "\n")
        tasks = [{"gce.cos.cos_disk": {"name": "fd-{{ inventory_hostname }}", "zone": DEFAULT_ZONE, "size_gb": 10}},
                 dict(probe_task(run_dir), run_once=True)]
        path = write_play(tmp_path, tasks, hosts="fleet")
        lgce.clear_requests()
        ansible_playbook(make_env(lgce, run_dir, tmp_path, True), path, "-f", "6", inventory=str(inventory))
        inserts = [r for r in lgce.requests() if r["mutating"]]
    finally:
        lgce.reset()
    for host in hosts:
        assert results(tmp_path, host=host)["r0"]["changed"] is True
    probe = probe_of(results(tmp_path, host=hosts[0])["r1"])
    assert len(probe["helpers"]) == 1, "one helper for the play, whatever the forks"
    assert probe["helpers"][0]["max_in_flight"] >= 2, "operation waits of several forks ran at once"
    assert len(inserts) == 6
    assert len({r["query"]["requestId"] for r in inserts}) == 6
    assert wait_gone(probe["helpers"][0]["pid"])


def test_helper_killed_between_tasks_is_replaced(lgce, run_dir, tmp_path):
    tasks = [
        {"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "k"}},
        probe_task(run_dir, kill=True),  # SIGKILL: its socket stays behind, stale
        {"gce.cos.cos_disk": {"name": "kd", "zone": DEFAULT_ZONE, "size_gb": 10}},
        {"gce.cos.cos_disk": {"name": "kd", "zone": DEFAULT_ZONE, "size_gb": 10}},
        probe_task(run_dir),
    ]
    lgce.reset()
    ansible_playbook(make_env(lgce, run_dir, tmp_path, True), write_play(tmp_path, tasks))
    got = results(tmp_path)
    killed = probe_of(got["r1"])["helpers"][0]["pid"]
    assert got["r2"]["changed"] is True and got["r2"]["disk"]["sizeGb"] == 10
    assert got["r3"]["changed"] is False
    assert not got["r2"].get("warnings"), "a new helper took over, no fallback needed"
    after = probe_of(got["r4"])["helpers"]
    assert len(after) == 1 and after[0]["pid"] != killed
    assert len([r for r in lgce.requests() if r["mutating"]]) == 1
    assert wait_gone(after[0]["pid"]) and wait_gone(killed)


def test_helper_killed_during_an_operation_wait(lgce, run_dir, tmp_path):
    """SIGKILL while a module waits on its operation: the wait goes on in a new helper, nothing is sent twice."""
    killed, out, sent, got = _signal_during_disk_wait(lgce, run_dir, tmp_path, signal.SIGKILL, 8,
                                                      [probe_task(run_dir)])
    after = probe_of(got["r1"])["helpers"]
    assert [line for line in out.splitlines() if "API helper" in line] == [], "a new helper took over, no fallback"
    # A new helper exists only if the module had to reconnect: the kill hit it during the wait.
    assert len(after) == 1 and after[0].get("pid") not in (None, killed), after
    assert len(sent) == 1, "the insert was sent once; only the wait was sent again"
    assert wait_gone(after[0]["pid"]) and wait_gone(killed)


def test_a_stopped_helper_is_left_within_seconds_and_replaced(lgce, run_dir, tmp_path):
    """SIGSTOP between tasks: the helper accepts connections but never answers. The next task runs
    without it (a warning says why) instead of hanging; the task after that starts a new helper."""
    tasks = [
        {"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "s"}},
        probe_task(run_dir, stop=True),
        {"gce.cos.cos_disk": {"name": "sd", "zone": DEFAULT_ZONE, "size_gb": 10}},
        {"gce.cos.cos_disk": {"name": "sd", "zone": DEFAULT_ZONE, "size_gb": 10}},
        probe_task(run_dir),
    ]
    lgce.reset()
    path = write_play(tmp_path, tasks)
    stopped = None
    try:
        # A generous bound: the old module waited on a stopped helper for ever.
        proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(path)],
                              env=make_env(lgce, run_dir, tmp_path, True), capture_output=True, text=True,
                              timeout=300, check=False)
        got = results(tmp_path) if proc.returncode == 0 else None
        if got:
            stopped = probe_of(got["r1"])["helpers"][0]["pid"]
    finally:
        _kill_frozen(run_dir, stopped)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert got["r2"]["changed"] is True and got["r2"]["disk"]["sizeGb"] == 10
    warnings = " ".join(got["r2"].get("warnings") or [])
    assert "API helper is not available" in warnings and "did not answer" in warnings, got["r2"]
    assert got["r3"]["changed"] is False and not got["r3"].get("warnings"), "a new helper served the next task"
    after = [h for h in probe_of(got["r4"])["helpers"] if "pid" in h]
    assert len(after) == 1 and after[0]["pid"] != stopped, after
    assert len([r for r in lgce.requests() if r["mutating"]]) == 1
    assert wait_gone(after[0]["pid"]) and wait_gone(stopped)


def test_a_helper_frozen_during_an_operation_wait(lgce, run_dir, tmp_path):
    """SIGSTOP while a module waits on its operation: its heartbeats stop, the module finishes the wait
    on the plain path (a warning says so) within seconds, and nothing is sent twice."""
    frozen, _out, sent, got = _signal_during_disk_wait(lgce, run_dir, tmp_path, signal.SIGSTOP, 20, [])
    warnings = " ".join(got["r0"].get("warnings") or [])
    assert "API helper stopped answering" in warnings and "no sign of life" in warnings, got["r0"]
    assert len(sent) == 1, "the insert was sent once; only the wait was sent again"
    assert wait_gone(frozen)


def _signal_during_disk_wait(lgce, run_dir, tmp_path, sig, delay, more_tasks):
    """Run a play that creates a disk (its operation takes ``delay`` s), then ``more_tasks``; once the
    insert is answered and the helper has a call in flight (the operation's wait), send ``sig`` to the
    helper. The play must succeed with the disk created. (pid signalled, output, mutating requests, results)."""
    lgce.reset()
    lgce.config(operation_delay=delay)
    disk = {"gce.cos.cos_disk": {"name": "wd", "zone": DEFAULT_ZONE, "size_gb": 10}}
    path = write_play(tmp_path, [disk, *more_tasks])
    env = make_env(lgce, run_dir, tmp_path, True)
    proc = subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", str(path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pid = None
    try:
        deadline = time.monotonic() + 300
        while pid is None and time.monotonic() < deadline and proc.poll() is None:
            # The log records a request once answered: once the insert is, a call in flight is its wait.
            if any(r["mutating"] for r in lgce.requests()):
                helpers = [h for h in _probe(run_dir)["helpers"] if h.get("in_flight")]
                if helpers:
                    pid = helpers[0]["pid"]
                    os.kill(pid, sig)
            time.sleep(0.05)
        # A generous bound: a module once waited on a frozen helper for ever.
        out = proc.communicate(timeout=300)[0]
        sent = [r for r in lgce.requests() if r["mutating"]]
    finally:
        lgce.reset()
        if proc.poll() is None:
            proc.kill()
        if sig == signal.SIGSTOP:
            _kill_frozen(run_dir, pid)
    assert pid is not None, "the helper was seen during the wait\n" + out[-4000:]
    assert proc.returncode == 0, out[-6000:]
    got = results(tmp_path)
    assert got["r0"]["changed"] is True and got["r0"]["disk"]["status"] == "READY"
    return pid, out, sent, got


def _kill_frozen(run_dir, pid):
    """SIGKILL a helper a test froze (it cannot notice its play's end while stopped)."""
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _probe(run_dir):
    out = subprocess.run([sys.executable, PROBE, run_dir], capture_output=True, text=True, check=False)
    return json.loads(out.stdout) if out.returncode == 0 else {"helpers": []}


def test_stale_socket_of_a_crashed_run_is_removed(lgce, run_dir, tmp_path):
    directory = os.path.join(run_dir, "gce-cos")
    os.mkdir(directory, 0o700)
    # A socket nobody listens on, named after a play that no longer runs (pid 4194304 is above pid_max).
    stale = os.path.join(directory, "h-4194304.1-0123456789ab.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(stale)
    sock.close()
    open(stale[:-5] + ".lock", "w").close()
    path = write_play(tmp_path, [{"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "s"}},
                                 probe_task(run_dir)])
    ansible_playbook(make_env(lgce, run_dir, tmp_path, True), path)
    probe = probe_of(results(tmp_path)["r1"])
    assert not any(name.startswith("h-4194304.") for name in probe["files"])
    assert len(probe["helpers"]) == 1 and "pid" in probe["helpers"][0]
    assert wait_gone(probe["helpers"][0]["pid"])


def test_ctrl_c_leaves_no_helper(lgce, run_dir, tmp_path):
    marker = tmp_path / "probe.json"
    tasks = [
        {"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "c"}},
        {"ansible.builtin.shell": "%s %s %s > %s" % (sys.executable, PROBE, run_dir, marker)},
        {"ansible.builtin.shell": "echo $$ > %s; exec sleep 120" % (tmp_path / "sleep.pid")},
    ]
    env = make_env(lgce, run_dir, tmp_path, True)
    proc = subprocess.Popen([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,",
                             str(write_play(tmp_path, tasks))], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (marker.exists() and marker.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    pid = json.loads(marker.read_text())["helpers"][0]["pid"]
    time.sleep(1)  # inside "sleep 120"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    assert wait_gone(pid), "the helper outlived an interrupted play"
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((tmp_path / "sleep.pid").read_text()), signal.SIGTERM)


def test_another_user_is_refused(lgce, run_dir, tmp_path):
    """The socket is 0600 in a 0700 directory; even opened up, SO_PEERCRED refuses another uid."""
    if os.getuid() != 0:
        pytest.fail("this test needs root to act as another user (setuid to nobody)")
    import ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_client as client
    import ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_protocol as protocol

    env_backup = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = run_dir
    try:
        owner = (os.getpid(), protocol.process_stat(os.getpid())[1])
        hello = client.hello_message({"auth_kind": "accesstoken", "access_token": "t", "project": DEFAULT_PROJECT,
                                      "api_endpoint": lgce.url})
        api = client.HelperApi(hello, owner, plain=None, idle_timeout=60)
        assert api.get("instances", doing="read x", project=DEFAULT_PROJECT, zone=DEFAULT_ZONE, instance="n") is None
        api.close()
    finally:
        if env_backup is None:
            del os.environ["XDG_RUNTIME_DIR"]
        else:
            os.environ["XDG_RUNTIME_DIR"] = env_backup
    directory = os.path.join(run_dir, "gce-cos")
    (sock_name,) = [n for n in os.listdir(directory) if n.endswith(".sock")]
    sock_path = os.path.join(directory, sock_name)
    pid = _probe(run_dir)["helpers"][0]["pid"]
    as_nobody = (
        "import os, socket, struct, json, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except PermissionError:\n"
        "    print('EACCES'); sys.exit()\n"
        "d = json.dumps({'op': 'stats'}).encode(); s.sendall(struct.pack('>I', len(d)) + d)\n"
        "h = s.recv(4, socket.MSG_WAITALL)\n"
        "print(s.recv(struct.unpack('>I', h)[0], socket.MSG_WAITALL).decode() if len(h) == 4 else 'closed')\n"
    )

    def run_as_nobody():
        out = subprocess.run([sys.executable, "-c", as_nobody, sock_path], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    try:
        assert run_as_nobody() == "EACCES"
        # Open the file permissions: the helper itself must still refuse.
        os.chmod(run_dir, 0o711)
        os.chmod(directory, 0o711)
        os.chmod(sock_path, 0o666)
        answer = json.loads(run_as_nobody())
        assert "pid" not in answer and "own user" in answer["error"]["message"], answer
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_gone(pid)


def test_off_by_default_and_outside_a_play(lgce, run_dir, tmp_path):
    """Without the switch no helper starts; a module run without ansible-playbook never starts one."""
    env = make_env(lgce, run_dir, tmp_path, False)
    del env["GCE_COS_API_HELPER"]
    path = write_play(tmp_path, [{"gce.cos.cos_instance_info": {"zone": DEFAULT_ZONE, "name": "o"}}])
    ansible_playbook(env, path)
    assert not os.path.exists(os.path.join(run_dir, "gce-cos"))
    runner = subprocess.run(
        [sys.executable, os.path.join(ROOT, "plugins", "modules", "cos_instance_info.py")],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": {"zone": DEFAULT_ZONE, "name": "o"}}),
        env=dict(make_env(lgce, run_dir, tmp_path, True), PYTHONPATH=COLLECTIONS),
        capture_output=True, text=True, check=False,
    )
    assert json.loads(runner.stdout)["instances"] == []
    assert not os.path.exists(os.path.join(run_dir, "gce-cos"))
