"""The readiness probe of the container spec (issue 22): canonical form, the errors that name the
field before any API call, and the ``# cos-ready:`` line the agent reads from the unit."""

import subprocess

import pytest
from ansible_collections.gce.cos.plugins.module_utils import container_spec as cs
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit as cu
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

WEB = {"name": "web", "image": "nginx:1.27", "ports": [8080]}


def spec(**readiness):
    return dict(WEB, readiness=readiness)


def errors(raw):
    with pytest.raises(cs.SpecError) as info:
        cs.validate(raw)
    return [str(e) for e in info.value.errors]


def test_http_probe_gets_its_defaults():
    assert cs.validate(spec(type="http", port=8080))["readiness"] == {
        "type": "http", "port": 8080, "path": "/", "status": 200, "command": None,
        "interval": 1, "timeout": 2, "deadline": 60,
    }


def test_tcp_and_command_probes():
    assert cs.validate(spec(type="tcp", port="8080"))["readiness"]["port"] == 8080
    probe = cs.validate(dict(WEB, ports=[], readiness={"command": ["pg_isready", "-q"], "deadline": 5}))["readiness"]
    assert probe["type"] == "command" and probe["command"] == ["pg_isready", "-q"] and probe["port"] is None


def test_no_probe_leaves_the_spec_as_it_was_before_readiness_existed():
    """No ``readiness`` key at all: the unit of a container without a probe (its revision, so
    whether the agent restarts it) is the same as before the field was added."""
    for raw in (WEB, dict(WEB, readiness=None)):
        normalised = cs.validate(raw)
        assert "readiness" not in normalised
        assert "readiness" not in cs.canonical_json(normalised)
        assert "cos-ready" not in cu.render(normalised)


def test_a_probe_on_an_undeclared_port_is_refused_naming_the_field():
    (err,) = errors(spec(type="http", port=9090))
    assert err.startswith("readiness.port: 9090 is not a TCP port the container declares in ports")
    assert "8080/tcp" in err and "add 9090 to ports" in err
    # a UDP port is not one an HTTP or TCP probe can connect to
    (err,) = errors(dict(WEB, ports=["8080/udp"], readiness={"type": "tcp", "port": 8080}))
    assert err.startswith("readiness.port: 8080 is not a TCP port")


def test_a_deadline_shorter_than_the_interval_is_refused():
    (err,) = errors(spec(type="tcp", port=8080, interval=10, deadline=5))
    assert err.startswith("readiness.deadline: 5 is shorter than the interval (10s)")


@pytest.mark.parametrize("path", ["healthz", "/a b", "/x\ny", ""])
def test_bad_paths_are_refused(path):
    errs = errors(spec(port=8080, path=path))
    assert len(errs) == 1 and errs[0].startswith("readiness.path: ")


@pytest.mark.parametrize("status", [99, 600, "ok", True])
def test_bad_statuses_are_refused(status):
    errs = errors(spec(port=8080, status=status))
    assert len(errs) == 1 and errs[0].startswith("readiness.status: ")


def test_kind_mismatches_and_unknown_keys_are_refused():
    assert errors(spec(type="tcp", port=8080, path="/x"))[0].startswith("readiness.path: \"/x\" does not apply")
    assert errors(spec(type="grpc", port=8080))[0].startswith("readiness.type: \"grpc\" is not a readiness probe")
    assert errors(spec(type="command"))[0].startswith("readiness.command: null is missing or empty")
    assert "did you mean 'deadline'" in errors(spec(port=8080, dedline=3))[0]
    assert errors(spec(type="http"))[0].startswith("readiness.port: null is missing")
    assert errors(spec(port=8080))[0].startswith("readiness.type: null is missing")


def test_the_module_path_prefixes_the_field():
    with pytest.raises(cs.SpecError) as info:
        cs.validate(spec(type="tcp", port=1), "containers[2]")
    assert str(info.value.errors[0]).startswith("containers[2].readiness.port: 1 ")


def test_the_unit_carries_the_probe_on_its_own_line():
    text = cu.build(spec(port=8080, path="/up", status=204, interval=3, timeout=1, deadline=9))["unit"]
    lines = text.split("\n")
    assert lines[3] == vm_contract.READY_LINE_PREFIX + "http 3 1 9 8080 204 /up"
    # Ports and a probe make the container start-first: the switch line follows.
    assert lines[4] == vm_contract.SWITCH_LINE_PREFIX + "9 10 8080/tcp"
    assert lines[5] == "[Unit]"
    assert vm_contract.READY_LINE_PREFIX not in cu.build(WEB)["unit"]


def test_command_words_round_trip_through_the_agents_decoding():
    """The agent splits the line on spaces and turns %XX back with printf %b (as cos-agent's probe_once)."""
    words = ["sh", "-c", "echo 'a b' \\ $HOME 100% \u00e9", "", "x=y"]
    line = cu.readiness_line(cs.validate(dict(WEB, readiness={"command": words}))["readiness"])
    script = (
        'read -r -a p <<<"$1"; for w in "${p[@]:4}"; do '
        'if [[ $w == %- ]]; then w=""; else w=${w//%/\\\\x}; printf -v w "%b" "$w"; fi; printf "%s\\0" "$w"; done'
    )
    out = subprocess.run(["bash", "-c", script, "bash", line[len(vm_contract.READY_LINE_PREFIX):]],
                         capture_output=True, check=True).stdout
    assert out.decode("utf-8").split("\0")[:-1] == words
