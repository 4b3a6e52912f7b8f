"""konlet gce-container-declaration -> gce.cos spec, with konlet's semantics and errors."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils import konlet
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit as cu

# What gcloud compute instances create-with-container writes (comments included).
GCLOUD = """\
# DISCLAIMER:
# This container declaration format is not a public API and may change without
# notice. Please use gcloud command-line tool or Google Cloud Console to run
# Containers on Google Compute Engine.

spec:
  containers:
  - name: instance-1
    image: gcr.io/google-containers/busybox:latest
    stdin: false
    tty: false
  restartPolicy: Always
"""


def decl(container_extra="", volumes="", policy=None, containers=None):
    body = "spec:\n  containers:\n"
    body += containers if containers is not None else (
        "  - name: app\n    image: gcr.io/p/app:1\n" + container_extra)
    if volumes:
        body += "  volumes:\n" + volumes
    if policy is not None:
        body += "  restartPolicy: %s\n" % policy
    return body


def convert(text, **kwargs):
    return konlet.convert(text, **kwargs)[0]


def reasons(text, **kwargs):
    with pytest.raises(konlet.KonletError) as info:
        konlet.convert(text, **kwargs)
    return info.value.errors


# ---------------------------------------------------------------- features


def test_gcloud_declaration_converts_to_the_konlet_defaults():
    spec, notes = konlet.convert(GCLOUD)
    assert spec["name"] == "instance-1"
    assert spec["image"] == "gcr.io/google-containers/busybox:latest"
    assert spec["restart_policy"] == "always"
    assert spec["log_driver"] == "json-file"
    assert spec["log_opts"] == {"max-size": "500m", "max-file": "3"}
    assert (spec["command"], spec["args"], spec["env"], spec["volumes"]) == ([], [], {}, [])
    assert (spec["privileged"], spec["stdin"], spec["tty"]) == (False, False, False)
    assert any("firewall" in n for n in notes)


def test_host_network_and_json_file_limits_in_the_rendered_unit():
    args = cu.docker_argv(convert(GCLOUD))
    assert args[args.index("--network") + 1] == "host"
    assert args[6:12] == ["--log-driver", "json-file", "--log-opt", "max-file=3", "--log-opt", "max-size=500m"]


def test_command_is_the_entrypoint_and_args_the_cmd():
    spec = convert(decl("    command: [/bin/sh, -c]\n    args: ['echo hi', x]\n"))
    assert spec["command"] == ["/bin/sh", "-c"] and spec["args"] == ["echo hi", "x"]
    args = cu.docker_argv(spec)
    assert args[-6:] == ["--entrypoint", "/bin/sh", "gcr.io/p/app:1", "-c", "echo hi", "x"]
    only_args = cu.docker_argv(convert(decl("    args: [--port, '80']\n")))
    assert "--entrypoint" not in only_args and only_args[-3:] == ["gcr.io/p/app:1", "--port", "80"]


def test_env_scalars_keep_their_yaml_text_and_the_last_duplicate_wins():
    spec = convert(decl(
        "    env:\n"
        "    - {name: PORT, value: 8080}\n"
        "    - {name: DEBUG, value: true}\n"
        "    - {name: RATIO, value: 1.50}\n"
        "    - {name: EMPTY}\n"
        "    - {name: PORT, value: '9090'}\n"))
    assert spec["env"] == {"PORT": "9090", "DEBUG": "true", "RATIO": "1.50", "EMPTY": ""}


@pytest.mark.parametrize(("policy", "expected"), [(None, "always"), ("Always", "always"),
                                                  ("OnFailure", "on-failure"), ("Never", "never")])
def test_restart_policy_mapping(policy, expected):
    spec = convert(decl(policy=policy))
    assert spec["restart_policy"] == expected
    assert spec["max_retries"] is None  # konlet's on-failure had no retry limit


def test_restart_never_and_on_failure_in_systemd_terms():
    assert "Restart=no" in cu.render(convert(decl(policy="Never")))
    unit = cu.render(convert(decl(policy="OnFailure")))
    assert "Restart=on-failure" in unit and "StartLimitIntervalSec=0" in unit


def test_security_context_stdin_tty():
    spec = convert(decl("    securityContext: {privileged: yes}\n    stdin: on\n    tty: true\n"))
    assert (spec["privileged"], spec["stdin"], spec["tty"]) == (True, True, True)
    args = cu.docker_argv(spec)
    assert "--privileged" in args and "--interactive" in args and "--tty" in args


def test_unknown_keys_are_ignored_and_keys_are_case_sensitive():
    spec = convert(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"
        "spec:\n  hostNetwork: false\n  containers:\n  - name: app\n    image: nginx\n"
        "    ports: [{containerPort: 80}]\n    resources: {limits: {memory: 1Gi}}\n"
        "    Privileged: true\n    Stdin: true\n    securityContext: {Privileged: true, runAsUser: 1}\n")
    assert (spec["privileged"], spec["stdin"]) == (False, False)
    assert spec["ports"] == [] and spec["memory"] is None


def test_volumes_host_path_tmpfs_and_persistent_disk():
    spec = convert(decl(
        "    volumeMounts:\n"
        "    - {name: logs, mountPath: /logs, readOnly: true}\n"
        "    - {name: cache, mountPath: /cache}\n"
        "    - {name: data, mountPath: /data}\n"
        "    - {name: data, mountPath: /data-ro, readOnly: true}\n"
        "    - {name: part, mountPath: /part}\n",
        volumes=(
            "  - {name: logs, hostPath: {path: /var/log/app}}\n"
            "  - {name: cache, emptyDir: {medium: Memory}}\n"
            "  - {name: data, gcePersistentDisk: {pdName: data-disk, fsType: ext4}}\n"
            "  - {name: part, gcePersistentDisk: {pdName: multi, partition: 2}}\n")))
    assert spec["volumes"] == [
        {"type": "tmpfs", "container_path": "/cache", "size": None},
        {"type": "disk", "device_name": "data-disk", "partition": None, "sub_path": "", "container_path": "/data",
         "read_only": False},
        {"type": "disk", "device_name": "data-disk", "partition": None, "sub_path": "",
         "container_path": "/data-ro", "read_only": True},
        {"type": "host_path", "host_path": "/var/log/app", "container_path": "/logs", "read_only": True},
        {"type": "disk", "device_name": "multi", "partition": 2, "sub_path": "", "container_path": "/part",
         "read_only": False},
    ]
    unit = cu.render(spec)
    # konlet mounted the PD at /mnt/disks/gce-containers-mounts/gce-persistent-disks/<pdName>;
    # gce.cos mounts it at /mnt/disks/<deviceName> (pdName is the device name) and waits for it.
    assert "Requires=mnt-disks-data\\x2ddisk.mount mnt-disks-multi\\x2dpart2.mount" in unit
    assert "--volume /mnt/disks/data-disk:/data-ro:ro" in unit
    assert "--volume /mnt/disks/multi-part2:/part" in unit


def test_pd_notes_explain_the_mount_path_change():
    _spec, notes = konlet.convert(decl("    volumeMounts: [{name: d, mountPath: /d}]\n",
                                       volumes="  - {name: d, gcePersistentDisk: {pdName: disk-1}}\n"))
    assert any("/mnt/disks/gce-containers-mounts/gce-persistent-disks/disk-1" in n and "/mnt/disks/disk-1" in n
               for n in notes)


def test_attached_disks_modes_are_accepted_when_they_fit():
    text = decl("    volumeMounts: [{name: d, mountPath: /d, readOnly: true}]\n",
                volumes="  - {name: d, gcePersistentDisk: {pdName: disk-1}}\n")
    assert convert(text, attached_disks={"disk-1": "READ_ONLY"})["volumes"][0]["read_only"] is True


def test_name_override_for_names_gce_cos_cannot_use():
    text = decl(containers="  - name: My_App\n    image: nginx\n")
    (reason,) = reasons(text)
    assert "pass name=my-app" in reason
    assert convert(text, name="my-app")["name"] == "my-app"


# ---------------------------------------------------------------- konlet's rejections


@pytest.mark.parametrize(("text", "reason"), [
    ("spec:\n  containers: []\n", "Container declaration should include exactly 1 container, 0 found"),
    ("spec: {}\n", "Container declaration should include exactly 1 container, 0 found"),
    ("", "Container declaration should include exactly 1 container, 0 found"),
    (decl(containers="  - {name: a, image: x}\n  - {name: b, image: y}\n"),
     "Container declaration should include exactly 1 container, 2 found"),
    (decl(policy="UnlessStopped"), "Invalid container declaration: Unsupported container restart policy "
                                   "'UnlessStopped'"),
    (decl(policy="always"), "Invalid container declaration: Unsupported container restart policy 'always'"),
    (decl(policy="ALWAYS"), "Invalid container declaration: Unsupported container restart policy 'ALWAYS'"),
    (decl(policy="onFailure"), "Invalid container declaration: Unsupported container restart policy 'onFailure'"),
    (decl(policy="''"), "Invalid container declaration: Unsupported container restart policy ''"),
    (decl("    volumeMounts: [{name: ghost, mountPath: /g}]\n"),
     "Invalid container declaration: Volume ghost referenced in container app (index: 0) not found in volume "
     "definitions."),
    (decl(volumes="  - {name: lonely, hostPath: {path: /var/x}}\n"),
     "Invalid container declaration: Volume lonely not referenced by any container."),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n", volumes="  - {name: v, emptyDir: {}}\n"),
     "Volume v: Unsupported emptyDir volume medium: "),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n", volumes="  - {name: v, emptyDir: {medium: memory}}\n"),
     "Volume v: Unsupported emptyDir volume medium: memory"),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n",
          volumes="  - {name: v, gcePersistentDisk: {pdName: d, fsType: xfs}}\n"),
     "Volume v: Unsupported filesystem type: xfs"),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n",
          volumes="  - {name: v, gcePersistentDisk: {pdName: d, fsType: EXT4}}\n"),
     "Volume v: Unsupported filesystem type: EXT4"),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n", volumes="  - {name: v, gcePersistentDisk: {}}\n"),
     "Volume v: Empty GCE Persistent Disk name!"),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n", volumes="  - {name: v}\n"),
     "Invalid container declaration: Exactly one volume specification required for volume v, 0 found."),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n",
          volumes="  - {name: v, hostPath: {path: /var/x}, emptyDir: {medium: Memory}}\n"),
     "Invalid container declaration: Exactly one volume specification required for volume v, 2 found."),
    (decl("    volumeMounts: [{name: v, mountPath: /v}]\n", volumes="  - {name: v, hostPath: null}\n"),
     "Invalid container declaration: Exactly one volume specification required for volume v, 0 found."),
    (decl("    command: /bin/app\n"),
     "Cannot parse container declaration: line 5: cannot unmarshal !!str `/bin/app` into []string"),
    (decl("    tty: 'true'\n"), "Cannot parse container declaration: line 5: cannot unmarshal !!str `true` into bool"),
    (decl("    env: {A: b}\n"), "Cannot parse container declaration: line 5: cannot unmarshal !!map into []struct"),
    ("spec: [1]\n", "Cannot parse container declaration: line 1: cannot unmarshal !!seq into "
                    "types.ContainerSpecStruct"),
    ("spec: {containers: [\n", "Cannot parse container declaration: "),
])
def test_konlet_rejections_carry_konlets_reason(text, reason):
    with pytest.raises(konlet.Refused) as info:
        konlet.convert(text)
    assert info.value.kind == "refused"
    assert any(e.startswith(reason) for e in info.value.errors), info.value.errors


def test_attachment_checks_with_the_instances_disks():
    text = decl("    volumeMounts: [{name: d, mountPath: /d}]\n",
                volumes="  - {name: d, gcePersistentDisk: {pdName: disk-1}}\n")
    assert reasons(text, attached_disks={}) == [
        "Volume d: Could not determine if the GCE Persistent Disk disk-1 is attached read-only or read-write."]
    assert reasons(text, attached_disks={"disk-1": "READ_ONLY"}) == [
        "Volume d: Volume mount requires read-write access, but the GCE Persistent Disk disk-1 is attached "
        "read-only."]


def test_every_konlet_error_is_reported_at_once():
    text = decl(
        "    volumeMounts:\n    - {name: ghost, mountPath: /g}\n    - {name: e, mountPath: /e}\n"
        "    - {name: p, mountPath: /p}\n",
        volumes="  - {name: lonely, hostPath: {path: /var/x}}\n  - {name: e, emptyDir: {medium: Disk}}\n"
                "  - {name: p, gcePersistentDisk: {pdName: d, fsType: btrfs}}\n",
        policy="UnlessStopped")
    with pytest.raises(konlet.KonletError) as info:
        konlet.convert(text)
    assert info.value.errors == [
        "Invalid container declaration: Volume ghost referenced in container app (index: 0) not found in volume "
        "definitions.",
        "Invalid container declaration: Volume lonely not referenced by any container.",
        "Volume e: Unsupported emptyDir volume medium: Disk",
        "Volume p: Unsupported filesystem type: btrfs",
        "Invalid container declaration: Unsupported container restart policy 'UnlessStopped'",
    ]
    assert str(info.value).startswith("gce-container-declaration is refused by konlet itself (5 problems):")


def test_declarations_konlet_accepts_but_gce_cos_cannot_run_are_unsupported_not_refused():
    text = decl("    volumeMounts: [{name: tmp, mountPath: /scratch}]\n",
                volumes="  - {name: tmp, hostPath: {path: /tmp}}\n")
    with pytest.raises(konlet.Unsupported) as info:
        konlet.convert(text)
    assert info.value.kind == "unsupported"
    assert str(info.value).startswith(
        "konlet runs this gce-container-declaration, but gce.cos cannot convert it yet: converted spec.volumes[0]"
        ".host_path: \"/tmp\" is not allowed for a writable volume")
    # The reason comes with its fix.
    assert "Fix: " in str(info.value) and "readOnly: true on the volumeMount" in str(info.value)
    # A name gce.cos cannot use is gce.cos's limit too, not konlet's.
    with pytest.raises(konlet.Unsupported):
        konlet.convert(decl(containers="  - name: My_App\n    image: nginx\n"))


@pytest.mark.parametrize("path", ["/etc/ssl/certs", "/usr/share/ca-certificates", "/etc/localtime", "/tmp"])
def test_read_only_system_paths_convert_as_konlet_bound_them(path):
    spec = convert(decl("    volumeMounts: [{name: certs, mountPath: /etc/ssl/certs, readOnly: true}]\n",
                        volumes="  - {name: certs, hostPath: {path: %s}}\n" % path))
    assert spec["volumes"] == [{"type": "host_path", "host_path": path, "container_path": "/etc/ssl/certs",
                                "read_only": True}]
    assert "--volume %s:/etc/ssl/certs:ro" % path in cu.render(spec)


def test_the_agents_state_stays_out_of_reach_even_read_only():
    for path in ("/var/lib/cos-agent", "/var/lib", "/"):
        text = decl("    volumeMounts: [{name: s, mountPath: /s, readOnly: true}]\n",
                    volumes="  - {name: s, hostPath: {path: %s}}\n" % path)
        with pytest.raises(konlet.Unsupported) as info:
            konlet.convert(text)
        assert "holds the cos agent's credentials" in str(info.value), path


def test_firewall_note_and_ports_narrowing():
    spec, notes = konlet.convert(GCLOUD)
    assert spec["ports"] == []
    assert notes[0].startswith("the host firewall is opened at every boot as konlet opened it: ACCEPT for tcp, udp "
                               "and icmp on INPUT and FORWARD, for IPv4 (iptables) and IPv6 (ip6tables)")
    assert "migrate with ports: [...]" in notes[0]
    spec, notes = konlet.convert(GCLOUD, ports=[8080, "53/udp"])
    assert spec["ports"] == ["53/udp", "8080/tcp"]
    assert notes[0].startswith("only ports 8080, 53/udp are opened on the host firewall")


def test_disks_of_a_converted_spec_with_their_modes():
    text = decl("    volumeMounts:\n    - {name: d, mountPath: /d}\n    - {name: d, mountPath: /d2, readOnly: true}\n"
                "    - {name: a, mountPath: /a, readOnly: true}\n",
                volumes="  - {name: d, gcePersistentDisk: {pdName: data}}\n"
                        "  - {name: a, gcePersistentDisk: {pdName: archive, partition: 1}}\n")
    attached = {"data": "READ_WRITE", "archive": "READ_ONLY"}
    spec = convert(text, attached_disks=attached)
    disks = {d["device_name"]: d for d in konlet.disks(spec, attached)}
    assert sorted(disks) == ["archive", "data"]
    assert disks["data"]["mount_path"] == "/mnt/disks/data" and disks["data"]["format"]
    assert disks["data"]["mount_options"] == "discard,defaults" and disks["data"]["resize"]
    assert disks["archive"]["mount_path"] == "/mnt/disks/archive-part1"
    assert disks["archive"]["read_only"] and disks["archive"]["mount_options"] == "ro"
    assert not disks["archive"]["format"] and not disks["archive"]["resize"]


def test_missing_yaml_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(konlet, "HAS_YAML", False)
    monkeypatch.setattr(konlet, "YAML_IMPORT_ERROR", ImportError("No module named 'yaml'"))
    (reason,) = reasons(GCLOUD)
    assert "PyYAML" in reason and "pip install PyYAML" in reason


def test_parse_returns_only_what_konlet_reads():
    parsed = konlet.parse(GCLOUD)
    assert parsed == {
        "containers": [{"name": "instance-1", "image": "gcr.io/google-containers/busybox:latest", "command": None,
                        "args": None, "env": [], "volumeMounts": [], "privileged": False, "stdin": False,
                        "tty": False}],
        "volumes": [],
        "restartPolicy": "Always",
    }


def test_firewall_fragment_opens_what_konlet_opened_once_per_boot(tmp_path):
    """The runcmd entry, run by real bash against stand-in iptables/ip6tables that keep their rules in a file."""
    import subprocess

    (cmd,) = konlet.firewall_fragment()["runcmd"]
    assert cmd[:2] == ["/bin/bash", "-c"] and cmd[2].startswith(konlet.FIREWALL_MARK)
    rules = tmp_path / "rules"
    rules.write_text("")
    for tool in ("iptables", "ip6tables"):
        fake = tmp_path / tool
        # -C answers from the file; -A appends to it. -w (wait for the lock) is accepted.
        fake.write_text(
            "#!/bin/bash\nop=$2; shift 2\nline=\"%s $*\"\n"
            "case $op in -C) grep -qxF -- \"$line\" %s ;; -A) echo \"$line\" >> %s ;; *) exit 2 ;; esac\n"
            % (tool, rules, rules))
        fake.chmod(0o755)
    env = {"PATH": "%s:/usr/bin:/bin" % tmp_path}
    for _run in range(2):  # cloud-init may run it again in the same boot: no duplicates
        subprocess.run(cmd, env=env, check=True)
    assert sorted(rules.read_text().splitlines()) == sorted(
        "%s %s -p %s -j ACCEPT" % (tool, chain, proto)
        for tool, protos in (("iptables", ("tcp", "udp", "icmp")), ("ip6tables", ("tcp", "udp", "ipv6-icmp")))
        for chain in ("INPUT", "FORWARD") for proto in protos)
