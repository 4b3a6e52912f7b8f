"""Validation and normalisation of the container spec."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils import container_spec as cs

MINIMAL = {"name": "web", "image": "nginx:1.27"}


def spec(**fields):
    out = dict(MINIMAL)
    out.update(fields)
    return out


def errors_of(raw, path=""):
    with pytest.raises(cs.SpecError) as info:
        cs.validate(raw, path)
    return info.value.errors


def only_error(raw, path=""):
    errors = errors_of(raw, path)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


# ---------------------------------------------------------------- canonical form


def test_minimal_spec_gets_every_default():
    out = cs.validate(MINIMAL)
    assert out == {
        "name": "web", "image": "nginx:1.27", "command": [], "args": [], "env": {}, "secret_env": {},
        "volumes": [], "ports": [], "restart_policy": "always", "max_retries": None, "privileged": False,
        "stdin": False, "tty": False, "user": None, "workdir": None, "cap_add": [], "cap_drop": [],
        "read_only": False, "apparmor_profile": None, "security_opt": [], "memory": None, "cpus": None,
        "healthcheck": None, "log_driver": "json-file", "log_opts": {"max-file": "3", "max-size": "500m"},
        "labels": {}, "stop_timeout": 10, "docker_args": [],
    }
    assert set(out) == {row.name for row in cs.ROWS if not row.omit_unset}


def test_equal_specs_written_differently_normalise_equal():
    a = spec(
        env={"B": "2", "A": 1},
        ports=[443, "80/tcp", "53/udp", 80],
        cap_add=["net_admin", "CAP_SYS_TIME", "NET_ADMIN"],
        volumes=[
            {"host_path": "/var/lib/web/", "container_path": "/srv"},
            {"type": "tmpfs", "container_path": "/cache", "size": "64MiB"},
        ],
        labels={"b": "2", "a": "1"},
        cpus=1,
        memory="512M",
        restart_policy="on-failure:3",
        security_opt=["no-new-privileges", "label=disable"],
    )
    b = {
        "security_opt": ["label=disable", "no-new-privileges"],
        "max_retries": 3,
        "restart_policy": "on-failure",
        "memory": "512m",
        "cpus": "1.0",
        "labels": {"a": "1", "b": "2"},
        "volumes": [
            {"container_path": "/cache", "type": "tmpfs", "size": "64m"},
            {"container_path": "/srv", "host_path": "/var/lib/web", "read_only": False},
        ],
        "cap_add": ["SYS_TIME", "NET_ADMIN"],
        "ports": ["53/udp", 443, 80],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "image": "nginx:1.27",
        "name": "web",
    }
    na, nb = cs.validate(a), cs.validate(b)
    assert na == nb
    assert cs.canonical_json(na) == cs.canonical_json(nb)
    assert na["ports"] == ["53/udp", "80/tcp", "443/tcp"]
    assert na["cap_add"] == ["NET_ADMIN", "SYS_TIME"]
    assert [v["container_path"] for v in na["volumes"]] == ["/cache", "/srv"]


def test_canonical_json_is_compact_sorted_and_ascii():
    text = cs.canonical_json(cs.validate(spec(env={"Z": "é", "A": "x"})))
    assert ": " not in text and ", " not in text
    assert text.index('"args"') < text.index('"env"') < text.index('"name"')
    assert text.isascii()
    assert '"A":"x","Z":"\\u00e9"' in text


def test_different_specs_differ():
    assert cs.validate(spec(env={"A": "1"})) != cs.validate(spec(env={"A": "2"}))
    # Order is significant where docker sees it: args.
    assert cs.validate(spec(args=["a", "b"])) != cs.validate(spec(args=["b", "a"]))


def test_booleans_and_numbers_accept_ansible_strings():
    out = cs.validate(spec(privileged="yes", tty="false", stop_timeout="30", cpus="0.5"))
    assert out["privileged"] is True and out["tty"] is False
    assert out["stop_timeout"] == 30 and out["cpus"] == "0.5"


def test_secret_references_full_and_short_forms():
    out = cs.validate(spec(secret_env={
        "A": "projects/my-proj/secrets/api-key/versions/3",
        "B": "projects/123456/secrets/db_pw/versions/latest",
        "C": "sm://my-proj/token",
        "D": "sm://my-proj/token#7",
    }))
    assert out["secret_env"] == {
        "A": "projects/my-proj/secrets/api-key/versions/3",
        "B": "projects/123456/secrets/db_pw/versions/latest",
        "C": "projects/my-proj/secrets/token/versions/latest",
        "D": "projects/my-proj/secrets/token/versions/7",
    }


def test_volume_types_and_defaults():
    out = cs.validate(spec(volumes=[
        {"device_name": "data", "container_path": "/data", "sub_path": "pg/./main/"},
        {"type": "host_path", "host_path": "/mnt/disks/data/x", "container_path": "/x", "read_only": True},
        {"type": "tmpfs", "container_path": "/tmp"},
        {"device_name": "logs", "partition": 2, "container_path": "/logs", "read_only": "yes"},
    ]))
    assert out["volumes"] == [
        {"type": "disk", "device_name": "data", "partition": None, "sub_path": "pg/main",
         "container_path": "/data", "read_only": False},
        {"type": "disk", "device_name": "logs", "partition": 2, "sub_path": "",
         "container_path": "/logs", "read_only": True},
        {"type": "tmpfs", "container_path": "/tmp", "size": None},
        {"type": "host_path", "host_path": "/mnt/disks/data/x", "container_path": "/x", "read_only": True},
    ]


def test_healthcheck_defaults_and_list_command():
    out = cs.validate(spec(healthcheck={"command": ["curl", "-f", "http://localhost/a b"], "interval": 10}))
    assert out["healthcheck"] == {
        "command": "curl -f 'http://localhost/a b'", "interval": "10s", "timeout": "30s", "retries": 3,
        "start_period": "0s",
    }


def test_gcplogs_has_no_json_file_defaults_and_warns():
    out = cs.validate(spec(log_driver="gcplogs"))
    assert out["log_opts"] == {}
    (warning,) = cs.warnings(out)
    assert "roles/logging.logWriter" in warning and "web" in warning


def test_json_file_log_opts_override_defaults():
    out = cs.validate(spec(log_opts={"max-size": "10m"}))
    assert out["log_opts"] == {"max-size": "10m", "max-file": "3"}


def test_warnings_for_secret_looking_env_and_docker_args_env():
    out = cs.validate(spec(env={"DB_PASSWORD": "x", "MODE": "y"}, docker_args=["-e", "X=1"]))
    warnings = cs.warnings(out)
    assert len(warnings) == 2
    assert "DB_PASSWORD" in warnings[0] and "secret_env" in warnings[0]
    assert "docker_args" in warnings[1]
    assert cs.warnings(cs.validate(MINIMAL)) == []


def test_image_references():
    for image in ("nginx", "nginx:1.27", "library/nginx:latest", "localhost:5000/a/b:c",
                  "us-docker.pkg.dev/p/r/app@sha256:" + "a" * 64, "gcr.io/p/app:v1@sha256:" + "0" * 64,
                  "registry.example.com/team/my_app__x:1.0-rc.1"):
        assert cs.validate(spec(image=image))["image"] == image


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("fields", "path", "needle"),
    [
        ({"name": "Web"}, "name", "lowercase letter first"),
        ({"name": "9web"}, "name", "lowercase letter first"),
        ({"name": "web-"}, "name", "not ending with a hyphen"),
        ({"name": "a" * 64}, "name", "1-63 characters"),
        ({"image": "nginx:"}, "image", "REPOSITORY[:TAG]"),
        ({"image": "nginx@sha256:abc"}, "image", "REPOSITORY[:TAG]"),
        ({"image": "Nginx:1"}, "image", "repository names are lowercase: nginx:1"),
        ({"image": "nginx latest"}, "image", "REPOSITORY[:TAG]"),
        ({"command": "/bin/app --x"}, "command", "YAML list"),
        ({"args": [["nested"]]}, "args[0]", "give a string"),
        ({"env": {"1BAD": "x"}}, "env.1BAD", "letters, digits and underscores"),
        ({"env": {"A": True}}, "env.A", "quote it in YAML"),
        ({"env": {"A": "line1\nline2"}}, "env.A", "remove newlines"),
        ({"env": [{"name": "A"}, {"name": "A", "value": "2"}]}, "env[1].value", "one entry per variable"),
        ({"volumes": [{"host_path": "/etc/app", "container_path": "/x"}]}, "volumes[0].host_path",
         "/var/lib/APP"),
        ({"volumes": [{"host_path": "/var/../etc", "container_path": "/x"}]}, "volumes[0].host_path",
         "without '..'"),
        ({"volumes": [{"host_path": "/var", "container_path": "/x"}]}, "volumes[0].host_path", "/var/lib/APP"),
        ({"volumes": [{"host_path": "var/lib/x", "container_path": "/x"}]}, "volumes[0].host_path",
         "start the path with /"),
        ({"volumes": [{"host_path": "/var/lib/a b", "container_path": "/x"}]}, "volumes[0].host_path",
         "plain name"),
        ({"volumes": [{"host_path": "/var/lib/cos-agent/docker", "container_path": "/x"}]},
         "volumes[0].host_path", "credentials"),
        ({"volumes": [{"host_path": "/var/lib/x:y", "container_path": "/x"}]}, "volumes[0].host_path", "':'"),
        ({"volumes": [{"host_path": "/var/lib/x", "container_path": "/"}]}, "volumes[0].container_path",
         "directory such as /data"),
        ({"volumes": [{"host_path": "/var/lib/x", "container_path": "/a/../b"}]}, "volumes[0].container_path",
         "without '..'"),
        ({"volumes": [{"host_path": "/var/lib/x"}]}, "volumes[0].container_path", "absolute path where"),
        ({"volumes": [{"container_path": "/x"}]}, "volumes[0]", "host_path, device_name"),
        ({"volumes": [{"type": "nfs", "container_path": "/x"}]}, "volumes[0].type", "host_path, tmpfs or disk"),
        ({"volumes": [{"type": "tmpfs", "container_path": "/x", "size": "lots"}]}, "volumes[0].size", "64m"),
        ({"volumes": [{"device_name": "Data_1", "container_path": "/x"}]}, "volumes[0].device_name",
         "deviceName"),
        ({"volumes": [{"device_name": "d", "container_path": "/x", "sub_path": "../up"}]},
         "volumes[0].sub_path", "without '..'"),
        ({"volumes": [{"device_name": "d", "container_path": "/x", "sub_path": "/abs"}]},
         "volumes[0].sub_path", "relative"),
        ({"volumes": [{"device_name": "d", "container_path": "/x", "partition": 0}]},
         "volumes[0].partition", "1 to 128"),
        ({"volumes": [{"device_name": "d", "container_path": "/x", "host_path": "/var/x"}]},
         "volumes[0]", "one source per volume"),
        ({"volumes": [{"type": "tmpfs", "container_path": "/x", "read_only": True}]},
         "volumes[0].read_only", "known fields"),
        ({"volumes": {"host_path": "/var/x"}}, "volumes", "list of volumes"),
        ({"ports": [70000]}, "ports[0]", "1-65535"),
        ({"ports": ["80/sctp"]}, "ports[0]", "53/udp"),
        ({"ports": 80}, "ports", "[80, 443"),
        ({"restart_policy": "Always"}, "restart_policy", "lowercase: always"),
        ({"restart_policy": "unless-stopped"}, "restart_policy", "always, on-failure or never"),
        ({"max_retries": 3}, "max_retries", "set restart_policy: on-failure"),
        ({"restart_policy": "on-failure", "max_retries": 0}, "max_retries", "1 to"),
        ({"privileged": "maybe"}, "privileged", "true or false"),
        ({"workdir": "app"}, "workdir", "start the working directory with /"),
        ({"cap_add": ["NET ADMIN"]}, "cap_add[0]", "NET_ADMIN"),
        ({"memory": "lots"}, "memory", "512m"),
        ({"memory": "1m"}, "memory", "at least 6m"),
        ({"cpus": 0}, "cpus", "positive number"),
        ({"cpus": "two"}, "cpus", "positive number"),
        ({"healthcheck": {"interval": "30s"}}, "healthcheck.command", "curl -f"),
        ({"healthcheck": {"command": "true", "interval": "soon"}}, "healthcheck.interval", "1m30s"),
        ({"healthcheck": {"command": "true", "retries": 0}}, "healthcheck.retries", "1 to 1000"),
        ({"healthcheck": {"command": "true", "intervall": "1s"}}, "healthcheck.intervall", "'interval'"),
        ({"log_driver": "syslog"}, "log_driver", "json-file"),
        ({"labels": {"a=b": "c"}}, "labels.a=b", "without '='"),
        ({"labels": ["a"]}, "labels", "mapping"),
        ({"stop_timeout": -1}, "stop_timeout", "0 to 3600"),
        ({"stop_timeout": "soon"}, "stop_timeout", "whole number"),
        ({"stop_timeout": 7200}, "stop_timeout", "0 to 3600"),
        ({"docker_args": ["--restart=always"]}, "docker_args[0]", "restart_policy"),
        ({"docker_args": ["--network", "bridge"]}, "docker_args[0]", "remove it"),
        ({"apparmor_profile": "p", "security_opt": ["apparmor=q"]}, "apparmor_profile", "one place"),
        ({"env": {"A": "1"}, "secret_env": {"A": "sm://my-proj/a"}}, "secret_env.A", "not both"),
        ({"imgae": "x"}, "imgae", "did you mean 'image'"),
    ],
)
def test_each_bad_field_names_path_value_and_fix(fields, path, needle):
    err = only_error(spec(**fields))
    assert err.path == path
    text = str(err)
    assert text.startswith(path + ": ")
    assert "Fix: " in text
    assert needle in text


def test_error_shows_the_bad_value():
    err = only_error(spec(volumes=[{"host_path": "/etc/ssl", "container_path": "/ssl"}]))
    assert '"/etc/ssl"' in str(err)
    assert err.value == "/etc/ssl"


def test_duplicate_container_path_names_both_volumes():
    err = only_error(spec(volumes=[
        {"host_path": "/var/a", "container_path": "/data"},
        {"type": "tmpfs", "container_path": "/data/"},
    ]))
    assert err.path == "volumes[1].container_path"
    assert "volumes[0]" in str(err)


def test_all_errors_are_reported_at_once_with_the_callers_path_prefix():
    errors = errors_of({
        "name": "Bad Name",
        "image": "",
        "volumes": [{"host_path": "/etc/x", "container_path": "/x"}, {"host_path": "/var/ok", "container_path": "y"}],
        "ports": ["http"],
        "restart_policy": "sometimes",
    }, path="containers[1]")
    paths = [e.path for e in errors]
    assert paths == [
        "containers[1].name",
        "containers[1].image",
        "containers[1].volumes[0].host_path",
        "containers[1].volumes[1].container_path",
        "containers[1].ports[0]",
        "containers[1].restart_policy",
    ]
    message = str(cs.SpecError(errors))
    assert message.startswith("invalid container spec (6 problems):")
    assert all(("- " + p + ": ") in message for p in paths)


def test_spec_must_be_a_mapping():
    err = only_error(["name", "web"], path="containers[0]")
    assert err.path == "containers[0]"


def test_plain_value_in_secret_env_is_an_error_that_never_echoes_it():
    secret = "hunter2-very-secret"
    err = only_error(spec(secret_env={"DB_PASSWORD": secret}))
    assert err.path == "secret_env.DB_PASSWORD"
    assert "projects/PROJECT/secrets/SECRET/versions/VERSION" in str(err)
    assert "put plain values in env" in str(err)
    assert secret not in str(err) and secret not in str(cs.SpecError([err]))


@pytest.mark.parametrize("ref", [
    "projects/p/secrets/s/versions/1",  # project id too short
    "projects/my-proj/secrets/s",  # no version
    "projects/my-proj/secrets/s/versions/0",
    "projects/my-proj/secrets/s/versions/LATEST",
    "sm://my-proj/s#latest#2",
    "sm://my-proj",
])
def test_bad_secret_references(ref):
    err = only_error(spec(secret_env={"X": ref}))
    assert err.path == "secret_env.X"


def test_secret_env_names_are_checked():
    err = only_error(spec(secret_env={"BAD-NAME": "sm://my-proj/s"}))
    assert err.path == "secret_env.BAD-NAME"


def test_error_values_are_truncated():
    err = only_error(spec(image="x" * 500 + "!"))
    assert len(str(err)) < 400
