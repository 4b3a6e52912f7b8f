"""Rendering specs to systemd units: golden files, determinism, quoting, systemd's own checks.

Regenerate the golden files with ``UPDATE_GOLDEN=1 pytest tests/unit -k golden``.
"""

import base64
import http.server
import json
import os
import shutil
import stat
import subprocess
import tempfile
import threading

import pytest
from ansible_collections.gce.cos.plugins.module_utils import container_spec as cs
from ansible_collections.gce.cos.plugins.module_utils import konlet
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit as cu
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
SYSTEMD = "/lib/systemd/systemd"

KONLET_DECLARATION = """\
spec:
  containers:
  - name: legacy
    image: gcr.io/my-proj/legacy:2
    command: [/app/server]
    args: [--listen, ":8080"]
    env:
    - {name: MODE, value: prod}
    volumeMounts:
    - {name: state, mountPath: /state}
    - {name: scratch, mountPath: /scratch}
    - {name: config, mountPath: /config, readOnly: true}
    securityContext: {privileged: true}
    stdin: true
    tty: true
  volumes:
  - {name: state, gcePersistentDisk: {pdName: legacy-state, fsType: ext4, partition: 1}}
  - {name: scratch, emptyDir: {medium: Memory}}
  - {name: config, hostPath: {path: /var/lib/legacy/config}}
  restartPolicy: OnFailure
"""

CASES = {
    "minimal-nginx": {"name": "web", "image": "nginx:1.27"},
    "full-featured": {
        "name": "api",
        "image": "us-docker.pkg.dev/my-proj/apps/api:2.4.1",
        "command": ["/usr/local/bin/api"],
        "args": ["serve", "--config", "/etc/api/config.yaml"],
        "env": {"LOG_LEVEL": "info", "PORT": 8080},
        "secret_env": {"DB_PASSWORD": "projects/my-proj/secrets/db-password/versions/4"},
        "volumes": [
            {"host_path": "/var/lib/api/config", "container_path": "/etc/api", "read_only": True},
            {"device_name": "api-data", "sub_path": "uploads", "container_path": "/data"},
            {"type": "tmpfs", "container_path": "/tmp", "size": "128m"},
        ],
        "ports": [8080, "9090/tcp"],
        "restart_policy": "always",
        "user": "1000:1000",
        "workdir": "/srv",
        "cap_add": ["NET_BIND_SERVICE"],
        "cap_drop": ["ALL"],
        "read_only": True,
        "apparmor_profile": "docker-default",
        "security_opt": ["no-new-privileges"],
        "memory": "1g",
        "cpus": 1.5,
        "healthcheck": {"command": ["curl", "-fsS", "http://127.0.0.1:8080/healthz"], "interval": "15s",
                        "retries": 5, "timeout": "3s", "start_period": "30s"},
        "labels": {"app": "api", "team": "platform"},
        "stop_timeout": 30,
        "docker_args": ["--ulimit", "nofile=65536:65536"],
    },
    "secrets": {
        "name": "worker",
        "image": "gcr.io/my-proj/worker:1",
        "env": {"QUEUE": "jobs"},
        "secret_env": {
            "API_TOKEN": "sm://my-proj/api-token",
            "DB_PASSWORD": "projects/my-proj/secrets/db-password/versions/latest",
        },
    },
    "pd-volume": {
        "name": "db",
        "image": "postgres:16",
        "env": {"PGDATA": "/var/lib/postgresql/data/pgdata"},
        "volumes": [
            {"device_name": "db-data", "container_path": "/var/lib/postgresql/data"},
            {"device_name": "db-backups", "partition": 1, "container_path": "/backups", "read_only": True},
            {"host_path": "/mnt/disks/db-data/wal", "container_path": "/wal"},
        ],
        "ports": [5432],
        "stop_timeout": 60,
    },
    "tmpfs": {
        "name": "cache",
        "image": "redis:7",
        "volumes": [{"type": "tmpfs", "container_path": "/data", "size": "256m"},
                    {"type": "tmpfs", "container_path": "/run/redis"}],
        "read_only": True,
        "ports": ["6379/tcp"],
    },
    "healthcheck": {
        "name": "app",
        "image": "ghcr.io/acme/app:3",
        "healthcheck": {"command": "wget -qO- http://localhost:3000/health || exit 1"},
    },
    "gcplogs": {"name": "logger", "image": "busybox:1.36", "log_driver": "gcplogs",
                "command": ["sh", "-c"], "args": ["while true; do date; sleep 5; done"]},
    "restart-on-failure": {"name": "batch", "image": "busybox:1.36", "restart_policy": "on-failure",
                           "max_retries": 4, "args": ["false"]},
    "restart-never": {"name": "once", "image": "busybox:1.36", "restart_policy": "never", "stdin": True,
                      "tty": True},
    "digest": {"name": "pinned", "image": "nginx@sha256:" + "0123456789abcdef" * 4, "ports": ["53/udp"]},
    "quoting": {
        "name": "quotes",
        "image": "busybox:1.36",
        "command": ["/bin/sh", "-c"],
        "args": ['echo "$HOME" %h ${PATH} $$ \\; ; \'single\' `tick`', ";", "", "#not-a-comment", "-",
                 "tab\there", "ünïcödé", "a\\", "100%"],
        "env": {"SPACES": "a b  c", "QUOTES": "it's \"quoted\"", "PERCENT": "%n%%", "DOLLAR": "$USER ${X} $$",
                "BACKSLASH": "C:\\temp\\new", "EMPTY": "", "HASH": "#x ;y", "EQUALS": "a=b=c"},
        "labels": {"note": "100% \"real\" $money"},
    },
    "konlet-converted": konlet.convert(KONLET_DECLARATION)[0],
    "readiness-http": {"name": "web", "image": "nginx:1.27", "ports": [8080],
                       "readiness": {"type": "http", "port": 8080, "path": "/healthz?full=1", "status": 204,
                                     "interval": 2, "timeout": 1, "deadline": 30}},
    "readiness-command": {"name": "db", "image": "postgres:16",
                          "readiness": {"command": ["pg_isready", "-h", "127.0.0.1", "", "it's 100%"]}},
    # Ports and a probe: start-first by default (bridge network, NAME-%i, the agent's port switch).
    "start-first-secrets": {"name": "api", "image": "us-docker.pkg.dev/p/r/api:2", "ports": [8080, "9090/udp"],
                            "readiness": {"type": "tcp", "port": 8080, "deadline": 45}, "drain": 20,
                            "secret_env": {"DB_PASSWORD": "projects/my-proj/secrets/db-password/versions/4"}},
    # A healthcheck opts in explicitly; its deadline comes from the check's timing.
    "start-first-healthcheck": {"name": "web", "image": "nginx:1.27", "ports": [80], "order": "start-first",
                                "healthcheck": {"command": ["curl", "-f", "http://localhost/"], "interval": "10s",
                                                "timeout": "5s", "retries": 3, "start_period": "30s"}},
    # Ports and a probe, but stop-first: the host network, as before.
    "stop-first-readiness": {"name": "web", "image": "nginx:1.27", "ports": [8080], "order": "stop-first",
                             "readiness": {"type": "http", "port": 8080}},
}


def built(case):
    return cu.build(CASES[case])


# ---------------------------------------------------------------- golden files


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case):
    text = built(case)["unit"]
    path = os.path.join(GOLDEN_DIR, case + ".service")
    if UPDATE:
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    assert os.path.exists(path), "missing golden file %s: run with UPDATE_GOLDEN=1" % path
    with open(path, encoding="utf-8", newline="") as handle:
        assert text == handle.read(), "unit for %s changed: review, then UPDATE_GOLDEN=1" % case


def test_every_golden_file_has_a_case():
    names = {n[: -len(".service")] for n in os.listdir(GOLDEN_DIR) if n.endswith(".service")}
    assert names == set(CASES)


# ---------------------------------------------------------------- contract with the agent


@pytest.mark.parametrize("case", sorted(CASES))
def test_unit_contract_lines(case):
    result = built(case)
    lines = result["unit"].split("\n")
    assert lines[0].startswith("# ")
    assert lines[1] == "# cos-spec: " + cs.canonical_json(result["spec"])
    assert cu.recorded_spec(result["unit"]) == result["spec"]
    # No trailing newline: what bash's $(...) would strip must not be part of the hash.
    assert not result["unit"].endswith("\n")
    assert result["unit_name"] == "cos-container-%s.service" % result["spec"]["name"]
    assert result["metadata_key"] == "cos-container-%s" % result["spec"]["name"]
    assert result["revision"] == cu.revision(result["unit"])


def test_revision_is_the_sha256_prefix_of_the_exact_bytes():
    text = built("minimal-nginx")["unit"]
    out = subprocess.run(["sha256sum"], input=text.encode("utf-8"), stdout=subprocess.PIPE, check=True)
    assert cu.revision(text) == out.stdout.decode()[:16]
    assert cu.revision(text.encode("utf-8")) == cu.revision(text)
    assert len(cu.revision(text)) == 16
    assert cu.revision(text + "\n") != cu.revision(text)


def test_rendering_is_deterministic_and_order_independent():
    raw = CASES["full-featured"]
    shuffled = {k: raw[k] for k in reversed(list(raw))}
    shuffled["env"] = {k: raw["env"][k] for k in reversed(list(raw["env"]))}
    shuffled["volumes"] = list(reversed(raw["volumes"]))
    shuffled["ports"] = list(reversed(raw["ports"]))
    first = cu.build(raw)
    assert cu.build(shuffled) == first
    assert cu.build(json.loads(json.dumps(raw))) == first
    # Rendering the stored spec again gives the stored unit (the agent-side round trip).
    assert cu.render(cu.recorded_spec(first["unit"])) == first["unit"]


def test_a_changed_field_changes_the_revision():
    base = built("minimal-nginx")["revision"]
    assert cu.build(dict(CASES["minimal-nginx"], image="nginx:1.28"))["revision"] != base
    assert cu.build(dict(CASES["minimal-nginx"], env={"A": "1"}))["revision"] != base


def test_spec_from_unit_rejects_other_text():
    assert cu.recorded_spec("[Unit]\nDescription=x") is None
    assert cu.recorded_spec("# x\n# cos-spec: {not json") is None


# ---------------------------------------------------------------- unit content


def unit_lines(case, prefix):
    return [line for line in built(case)["unit"].split("\n") if line.startswith(prefix)]


@pytest.mark.parametrize("image, google", [
    ("nginx:1.27", False),
    ("docker.io/library/nginx:1.27", False),
    ("ghcr.io/acme/app:3", False),
    ("127.0.0.1:5000/web:v1", False),
    ("localhost/web", False),
    ("quay.io/gcr.io/x:1", False),
    ("gcr.io/my-proj/worker:1", True),
    ("eu.gcr.io/my-proj/worker:1", True),
    ("us-docker.pkg.dev/p/r/app@sha256:" + "0" * 64, True),
    ("europe-west1-docker.pkg.dev/p/r/app:1", True),
])
def test_only_images_from_google_registries_wait_for_gcr_online(image, google):
    # COS reaches gcr-online.target once gcr.io answers, never in a VPC without a route or DNS to
    # it: a container from another registry must not wait for it.
    unit = cu.render(cs.validate({"name": "c", "image": image}))
    deps = "gcr-online.target docker.socket network-online.target" if google else "docker.socket network-online.target"
    assert "\nWants=%s\n" % deps in unit and "\nAfter=%s\n" % deps in unit
    assert cu.needs_gcr(image) is google


def test_minimal_unit_runs_docker_with_host_network_and_restart_always():
    result = built("minimal-nginx")
    assert result["docker_argv"] == [
        "docker", "create", "--name", "web", "--network", "host", "--log-driver", "json-file",
        "--log-opt", "max-file=3", "--log-opt", "max-size=500m", "--stop-timeout", "10", "nginx:1.27",
    ]
    unit = result["unit"]
    # Created, then started detached and waited for: nothing of the container's output is copied
    # into the unit's journal (COS's logging agent would ship each line twice).
    assert "ExecStart=/bin/bash -c \"/usr/bin/docker start -- \\\"$$1\\\" >/dev/null || exit 125; " \
        "rc=$$(/usr/bin/docker wait -- \\\"$$1\\\") || exit 125; exit \\\"$$rc\\\"\" bash web" in unit, unit
    assert "--rm" not in unit and "--attach" not in unit and "docker run" not in unit
    assert "Wants=docker.socket network-online.target\n" in unit
    assert "After=docker.socket network-online.target\n" in unit
    assert "Environment=DOCKER_CONFIG=/var/lib/cos-agent/docker" in unit
    assert "ExecStartPre=-/usr/bin/docker rm -f web" in unit
    assert "ExecStartPre=/usr/bin/docker pull nginx:1.27" in unit
    assert "ExecStop=-/usr/bin/docker stop -t 10 web" in unit
    assert "Restart=always" in unit and "StartLimitIntervalSec=0" in unit
    assert "TimeoutStartSec=15min" in unit
    assert "--restart" not in unit  # systemd supervises, not docker


def test_restart_policies_map_to_systemd():
    assert unit_lines("restart-on-failure", "Restart=") == ["Restart=on-failure"]
    assert unit_lines("restart-on-failure", "StartLimit") == ["StartLimitIntervalSec=infinity", "StartLimitBurst=5"]
    assert unit_lines("restart-never", "Restart=") == ["Restart=no"]
    assert unit_lines("restart-never", "StartLimit") == []
    on_failure = cu.build({"name": "x", "image": "busybox", "restart_policy": "on-failure"})["unit"]
    assert "Restart=on-failure" in on_failure and "StartLimitIntervalSec=0" in on_failure


def test_disk_volumes_require_their_mount_units():
    assert unit_lines("pd-volume", "Requires=") == [
        "Requires=mnt-disks-db\\x2dbackups\\x2dpart1.mount mnt-disks-db\\x2ddata.mount"]
    assert unit_lines("pd-volume", "After=mnt") == [
        "After=mnt-disks-db\\x2dbackups\\x2dpart1.mount mnt-disks-db\\x2ddata.mount"]
    assert unit_lines("pd-volume", "RequiresMountsFor=") == ["RequiresMountsFor=/mnt/disks/db-data/wal"]
    args = built("pd-volume")["docker_argv"]
    assert "/mnt/disks/db-data:/var/lib/postgresql/data" in args
    assert "/mnt/disks/db-backups-part1:/backups:ro" in args


@pytest.mark.parametrize("path", ["/mnt/disks/data", "/mnt/disks/data-1", "/mnt/disks/a.b/.x_y:z",
                                  "/mnt/disks/ünï", "/mnt/disks//x/", "/", ".hidden/x"])
def test_systemd_escape_matches_systemd_escape(path):
    tool = shutil.which("systemd-escape")
    assert tool, "systemd-escape is needed for this test (apt-get install systemd)"
    out = subprocess.run([tool, "--path", path], stdout=subprocess.PIPE, check=True)
    assert cu.systemd_escape_path(path) == out.stdout.decode("utf-8").strip()


def test_secrets_go_through_the_fetch_helper_and_an_env_file():
    result = built("secrets")
    unit = result["unit"]
    assert ("ExecStartPre=/bin/bash /var/lib/cos-agent/bin/fetch-secrets worker "
            "API_TOKEN=projects/my-proj/secrets/api-token/versions/latest "
            "DB_PASSWORD=projects/my-proj/secrets/db-password/versions/latest") in unit
    assert "ExecStopPost=-/bin/rm -f /run/cos-agent/secrets/worker.env" in unit
    assert "UMask=0077" in unit
    args = result["docker_argv"]
    assert args[args.index("--env-file") + 1] == "/run/cos-agent/secrets/worker.env"
    assert "QUEUE=jobs" in args
    assert not any(a.startswith(("API_TOKEN", "DB_PASSWORD")) for a in args)


def test_ports_open_the_host_firewall_while_the_unit_runs():
    unit = built("pd-volume")["unit"]
    assert ("ExecStartPre=/bin/bash -c \"iptables -w -C INPUT -p tcp --dport 5432 -j ACCEPT 2>/dev/null || "
            "iptables -w -A INPUT -p tcp --dport 5432 -j ACCEPT\"") in unit
    assert "ExecStartPre=-/bin/bash -c \"ip6tables -w -C INPUT -p tcp --dport 5432" in unit
    assert "ExecStopPost=-/bin/bash -c \"while iptables -w -D INPUT -p tcp --dport 5432 -j ACCEPT" in unit
    assert "-p udp --dport 53" in built("digest")["unit"]


def test_digest_images_are_pulled_only_when_missing():
    unit = built("digest")["unit"]
    image = CASES["digest"]["image"]
    assert ('ExecStartPre=/bin/bash -c "/usr/bin/docker image inspect %s >/dev/null 2>&1 || '
            '/usr/bin/docker pull %s"' % (image, image)) in unit


def test_command_becomes_entrypoint_plus_leading_args():
    args = built("gcplogs")["docker_argv"]
    assert args[-5:] == ["--entrypoint", "sh", "busybox:1.36", "-c", "while true; do date; sleep 5; done"]
    assert args[6:8] == ["--log-driver", "gcplogs"] and "--log-opt" not in args


def test_stdin_keeps_stdin_open_without_attaching_it():
    # docker run -i would attach stdin (and demand a terminal with --tty): create, then start detached.
    result = built("restart-never")
    args = result["docker_argv"]
    assert args[:2] == ["docker", "create"]
    assert "--interactive" in args and "--tty" in args and "--attach" not in args
    lines = result["unit"].split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    assert lines[start - 1].startswith("    busybox")
    assert [line for line in lines if line.startswith("ExecStartPre=")][-1] == "ExecStartPre=/usr/bin/docker create \\"


def test_full_featured_flags():
    args = built("full-featured")["docker_argv"]
    joined = " ".join(args)
    for flag in ("--user 1000:1000", "--workdir /srv", "--cap-add NET_BIND_SERVICE", "--cap-drop ALL",
                 "--read-only", "--security-opt apparmor=docker-default", "--security-opt no-new-privileges",
                 "--memory 1g", "--cpus 1.5", "--health-interval 15s", "--health-retries 5",
                 "--health-timeout 3s", "--health-start-period 30s", "--label app=api", "--stop-timeout 30",
                 "--ulimit nofile=65536:65536", "--mount type=tmpfs,destination=/tmp,tmpfs-size=128m",
                 "--volume /var/lib/api/config:/etc/api:ro", "--volume /mnt/disks/api-data/uploads:/data"):
        assert flag in joined, flag
    assert args[args.index("--health-cmd") + 1] == "curl -fsS http://127.0.0.1:8080/healthz"
    assert "TimeoutStopSec=60" in built("full-featured")["unit"]


# ---------------------------------------------------------------- quoting


@pytest.mark.parametrize(("word", "quoted"), [
    ("plain", "plain"),
    ("a b", '"a b"'),
    ("", '""'),
    (";", '";"'),
    ("#x", '"#x"'),
    ("100%", "100%%"),
    ("$HOME", "$$HOME"),
    ('say "hi"', '"say \\"hi\\""'),
    ("back\\slash", '"back\\\\slash"'),
    ("it's", '"it\'s"'),
    ("a\tb", '"a\\tb"'),
])
def test_exec_quote(word, quoted):
    assert cu.exec_quote(word) == quoted


def test_exec_quote_refuses_newlines():
    with pytest.raises(ValueError):
        cu.exec_quote("a\nb")


# ---------------------------------------------------------------- systemd's own parsing


def _fake_root(units):
    """A root for systemd: stub binaries at the Exec paths, base targets, the given units."""
    root = tempfile.mkdtemp(prefix="cos-unit-root-")
    os.chmod(root, 0o755)
    system = os.path.join(root, "etc/systemd/system")
    lib = os.path.join(root, "usr/lib/systemd/system")
    os.makedirs(system)
    os.makedirs(lib)
    for binary in ("usr/bin/docker", "usr/bin/dockerd", "bin/bash", "bin/rm"):
        path = os.path.join(root, binary)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o755)
    base = {
        "sysinit.target": "[Unit]\nDescription=sysinit\n",
        "basic.target": "[Unit]\nDescription=basic\n",
        "sockets.target": "[Unit]\nDescription=sockets\n",
        "shutdown.target": "[Unit]\nDescription=shutdown\nDefaultDependencies=no\n",
        "multi-user.target": "[Unit]\nDescription=multi-user\n",
        "network-online.target": "[Unit]\nDescription=network online\n",
        "gcr-online.target": "[Unit]\nDescription=gcr online (COS)\n",
        "docker.socket": "[Socket]\nListenStream=/run/docker.sock\n",
        "docker.service": "[Service]\nExecStart=/usr/bin/dockerd\n",
    }
    for name, text in base.items():
        with open(os.path.join(lib, name), "w") as handle:
            handle.write(text)
    for name, text in units.items():
        with open(os.path.join(system, name), "w") as handle:
            handle.write(text)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
        for f in filenames:
            path = os.path.join(dirpath, f)
            os.chmod(path, os.stat(path).st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return root


def _units_for(case):
    result = built(case)
    units = {result["unit_name"]: result["unit"]}
    for vol in result["spec"]["volumes"]:
        if vol["type"] == "disk":
            where = cu.disk_mount_path(vol["device_name"], vol["partition"])
            units[cu.disk_mount_unit(vol["device_name"], vol["partition"])] = (
                "[Mount]\nWhat=/dev/disk/by-id/google-%s\nWhere=%s\nType=ext4\n" % (vol["device_name"], where))
    return result, units


@pytest.mark.parametrize("case", sorted(CASES))
def test_systemd_analyze_verify_is_silent(case):
    tool = shutil.which("systemd-analyze")
    assert tool, "systemd-analyze is needed for this test (apt-get install systemd)"
    result, units = _units_for(case)
    root = _fake_root(units)
    try:
        proc = subprocess.run([tool, "verify", "--root=" + root, result["unit_name"]],
                              capture_output=True, timeout=60, check=False)
    finally:
        shutil.rmtree(root)
    assert proc.returncode == 0 and proc.stderr == b"" and proc.stdout == b"", (
        "systemd-analyze verify complained about %s:\n%s%s" % (case, proc.stdout.decode(), proc.stderr.decode()))


def test_verify_setup_does_catch_bad_units():
    # Guard for the test above: the same fake root reports an unknown key and a missing mount.
    bad = built("minimal-nginx")["unit"] + "\nBogusKey=1\n[Unit]\nRequires=mnt-disks-missing.mount\n"
    root = _fake_root({"cos-container-web.service": bad})
    try:
        proc = subprocess.run(["systemd-analyze", "verify", "--root=" + root, "cos-container-web.service"],
                              capture_output=True, timeout=60, check=False)
    finally:
        shutil.rmtree(root)
    assert b"BogusKey" in proc.stderr
    assert b"mnt-disks-missing.mount" in proc.stderr


def _systemd_parsed_commands(unit_name, units):
    """Load the units with systemd's own parser (systemd --test) and return {Exec*: [argv...]}."""
    if not os.path.exists(SYSTEMD):
        pytest.fail("%s is needed to check how systemd parses the unit (apt-get install systemd)" % SYSTEMD)
    root = _fake_root(units)
    try:
        cmd = [SYSTEMD, "--system", "--test", "--log-target=console", "--unit=" + unit_name, "--no-pager"]
        if os.geteuid() == 0:
            # systemd refuses to run its test mode as root.
            cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_UNIT_PATH":
               "%s/etc/systemd/system:%s/usr/lib/systemd/system" % (root, root)}
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=60, check=False)
    finally:
        shutil.rmtree(root)
    out = proc.stdout.decode("utf-8")
    start = out.find("-> Unit %s:" % unit_name)
    assert start >= 0, "systemd did not load %s:\n%s" % (unit_name, proc.stderr.decode()[-2000:])
    section = out[start:].split("\n\t-> Unit ", 1)[0]
    commands, current = {}, None
    for line in section.split("\n"):
        stripped = line.strip()
        if stripped.startswith("-> Exec") and stripped.endswith(":"):
            current = stripped[3:-1]
            commands[current] = []
        elif stripped.startswith("Command Line: ") and current:
            commands[current].append(_unquote_systemd(stripped[len("Command Line: "):]))
        elif stripped.startswith("->"):
            current = None
    return commands


def _unquote_systemd(text):
    """Invert systemd's quote_command_line(): words, double quotes, \\n \\t and \\X escapes."""
    words, i = [], 0
    while i < len(text):
        if text[i] == " ":
            i += 1
            continue
        if text[i] == '"':
            i += 1
            word = []
            while text[i] != '"':
                if text[i] == "\\":
                    i += 1
                    word.append({"n": "\n", "t": "\t"}.get(text[i], text[i]))
                else:
                    word.append(text[i])
                i += 1
            i += 1
            words.append("".join(word))
        else:
            end = text.find(" ", i)
            end = len(text) if end < 0 else end
            words.append(text[i:end])
            i = end
    return words


def _exec_time(argv):
    # At exec time systemd turns $$ into $ (our quoting leaves no other $ in a unit).
    return [w.replace("$$", "$") for w in argv]


@pytest.mark.parametrize("case", ["quoting", "full-featured", "secrets", "konlet-converted", "pd-volume"])
def test_systemd_parses_execstart_into_the_docker_argv(case):
    result, units = _units_for(case)
    commands = _systemd_parsed_commands(result["unit_name"], units)
    (start,) = commands["ExecStart"]
    assert _exec_time(start) == ["/bin/bash", "-c", cu.START_AND_WAIT, "bash", result["spec"]["name"]]
    create = [c for c in commands["ExecStartPre"] if c[:2] == ["/usr/bin/docker", "create"]]
    assert [_exec_time(c) for c in create] == [["/usr/bin/docker", *result["docker_argv"][1:]]]
    assert commands["ExecStop"] == [["/usr/bin/docker", "stop", "-t", str(result["spec"]["stop_timeout"]),
                                     result["spec"]["name"]]]


def test_quoting_case_survives_every_tricky_value():
    result, units = _units_for("quoting")
    pre = _systemd_parsed_commands(result["unit_name"], units)["ExecStartPre"]
    (argv,) = [_exec_time(c) for c in pre if c[:2] == ["/usr/bin/docker", "create"]]
    spec = CASES["quoting"]
    assert argv[-len(spec["args"]):] == spec["args"]
    for name, value in spec["env"].items():
        assert "%s=%s" % (name, value) in argv
    assert 'note=100% "real" $money' in argv


# ---------------------------------------------------------------- secrets never leak


class _FakeGoogle(http.server.BaseHTTPRequestHandler):
    """Just enough of the metadata server and Secret Manager for fetch-secrets."""

    secrets = {}

    def do_GET(self):
        if self.path.endswith("/instance/service-accounts/default/token"):
            self._json({"access_token": "tok", "expires_in": 300, "token_type": "Bearer"})
        elif self.path.endswith(":access") and self.path.startswith("/v1/"):
            ref = self.path[len("/v1/"): -len(":access")]
            if ref in self.secrets:
                data = base64.b64encode(self.secrets[ref].encode()).decode()
                self._json({"name": ref, "payload": {"data": data}})
            else:
                self._json({"error": {"code": 404, "message": "not found"}}, 404)
        else:
            self._json({}, 404)

    def _json(self, body, code=200):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_secret_values_reach_only_the_root_only_env_file(tmp_path):
    """Run the agent's real fetch-secrets with the argv systemd parses from our unit."""
    from ansible_collections.gce.cos.plugins.module_utils._vm import cos_agent

    values = {"projects/my-proj/secrets/api-token/versions/latest": "tok-VALUE-1 with spaces",
              "projects/my-proj/secrets/db-password/versions/latest": "pw-VALUE-2$%\"'"}
    _FakeGoogle.secrets = values
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeGoogle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result, units = _units_for("secrets")
        pre = _systemd_parsed_commands(result["unit_name"], units)["ExecStartPre"]
        (fetch,) = [argv for argv in pre if vm_contract.FETCH_SECRETS_PATH in argv]
        script = tmp_path / "fetch-secrets"
        script.write_text(cos_agent.FETCH_SECRETS_SCRIPT)
        secrets_dir = tmp_path / "secrets"
        url = "http://127.0.0.1:%d" % server.server_address[1]
        env = dict(os.environ, COS_AGENT_METADATA_URL=url + "/computeMetadata/v1", COS_AGENT_SECRETMANAGER_URL=url,
                   COS_AGENT_SECRETS_DIR=str(secrets_dir))
        argv = [fetch[0], str(script), *fetch[2:]]
        proc = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr.decode()
    env_file = secrets_dir / "worker.env"
    assert cu.secrets_file("worker") == "/run/cos-agent/secrets/worker.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert env_file.read_text().splitlines() == ["API_TOKEN=tok-VALUE-1 with spaces",
                                                 "DB_PASSWORD=pw-VALUE-2$%\"'"]
    everything = json.dumps(result) + proc.stdout.decode() + proc.stderr.decode()
    for value in values.values():
        assert value not in everything
    for ref in values:
        assert ref in result["unit"]  # references are fine to show; values never


def test_redact_replaces_secret_values_everywhere():
    data = {"unit": "A=s3cret", "argv": ["x", "s3cret-longer"], "nested": ({"s3cret": 1},), "n": 5, "none": None}
    out = cu.redact(data, ["s3cret", "s3cret-longer", "", None])
    assert out == {"unit": "A=********", "argv": ["x", "********"], "nested": ({"********": 1},), "n": 5,
                   "none": None}
    assert cu.redact(data, []) is data
    assert "s3cret" not in json.dumps(out)


# ---------------------------------------------------------------- docker's own parsing


@pytest.mark.parametrize("case", sorted(CASES))
def test_docker_cli_accepts_every_rendered_argv(case, tmp_path):
    """docker parses and checks the options client-side before it needs a daemon."""
    docker = shutil.which("docker")
    if not docker:
        pytest.fail("the docker CLI is needed to check the rendered argv (apt-get install docker.io)")
    argv = list(built(case)["docker_argv"])
    if "--env-file" in argv:
        # docker reads the env file itself; the real one only exists on the VM.
        env_file = tmp_path / "secrets.env"
        env_file.write_text("")
        argv[argv.index("--env-file") + 1] = str(env_file)
    env = dict(os.environ, DOCKER_HOST="unix://%s/no-daemon.sock" % tmp_path, DOCKER_CONFIG=str(tmp_path))
    proc = subprocess.run([docker, *argv[1:]], capture_output=True, env=env, timeout=60, check=False)
    assert b"Cannot connect to the Docker daemon" in proc.stderr, (
        "docker rejected the argv of %s:\n%s" % (case, proc.stderr.decode()))


def test_docker_cli_check_does_catch_bad_options(tmp_path):
    env = dict(os.environ, DOCKER_HOST="unix://%s/no-daemon.sock" % tmp_path, DOCKER_CONFIG=str(tmp_path))
    proc = subprocess.run(["docker", "run", "--mount", "type=tmpfs,destination=/c,tmpfs-size=lots", "nginx"],
                          capture_output=True, env=env, timeout=60, check=False)
    assert b"Cannot connect" not in proc.stderr and b"tmpfs-size" in proc.stderr
