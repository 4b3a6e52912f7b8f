"""Start-first updates in the spec and the unit (issue 22, item 3): the order's default, the network, the drain,
the refusals before any API call, and what a start-first unit hands the agent."""

import pytest
from ansible_collections.gce.cos.plugins.module_utils import container_spec as cs
from ansible_collections.gce.cos.plugins.module_utils._vm import container_unit as cu
from ansible_collections.gce.cos.plugins.module_utils._vm import vm_contract

PROBE = {"type": "http", "port": 8080, "path": "/up"}


def spec(**fields):
    return dict({"name": "web", "image": "nginx:1.27"}, **fields)


def errors(value):
    with pytest.raises(cs.SpecError) as info:
        cs.validate(value)
    return {(e.path, str(e)) for e in info.value.errors}


def test_ports_and_a_probe_make_start_first_the_default_on_the_bridge_network():
    out = cs.validate(spec(ports=[8080], readiness=PROBE))
    assert (out["order"], out["network"], out["drain"]) == ("start-first", "bridge", cs.DEFAULT_DRAIN)


@pytest.mark.parametrize("fields", [
    {},  # nothing to switch, nothing to gate on
    {"ports": [8080]},  # no probe
    {"readiness": {"type": "command", "command": ["true"]}},  # no ports
    {"ports": [80], "healthcheck": {"command": "true"}},  # a healthcheck alone does not change the default
    {"ports": [8080], "readiness": PROBE, "network": "host"},  # asks for the host network
])
def test_other_containers_stay_stop_first_and_their_spec_and_unit_do_not_change(fields):
    out = cs.validate(spec(**fields))
    assert "order" not in out and "drain" not in out
    assert out.get("network") in (None, "host")
    unit = cu.render(out)
    assert vm_contract.SWITCH_LINE_PREFIX not in unit
    assert "--network host" in unit and "--name web \\" in unit


def test_a_start_first_unit_runs_one_container_per_revision_and_leaves_the_ports_to_the_agent():
    unit = cu.build(spec(ports=[8080, "53/udp"], readiness=dict(PROBE, deadline=45), drain=7))["unit"]
    lines = unit.split("\n")
    assert lines[4] == vm_contract.SWITCH_LINE_PREFIX + "45 7 53/udp 8080/tcp"
    assert "--network bridge" in unit
    assert "--name web-%i" in unit and "ExecStop=-/usr/bin/docker stop -t 10 web-%i" in unit
    # The agent forwards the ports (DNAT) once the revision is ready: the unit opens nothing itself.
    assert "INPUT" not in unit


def test_a_healthcheck_gates_a_start_first_update_within_its_own_timing():
    hc = {"command": "true", "interval": "20s", "timeout": "10s", "retries": 3, "start_period": "1m"}
    out = cs.validate(spec(ports=[80], healthcheck=hc, order="start-first"))
    assert cu.switch_deadline(out) == 60 + 4 * 30
    out = cs.validate(spec(ports=[80], healthcheck={"command": "true", "interval": "1s", "timeout": "1s"},
                           order="start-first"))
    assert cu.switch_deadline(out) == cu.HEALTHCHECK_DEADLINE


def test_start_first_with_the_host_network_on_a_declared_port_is_refused_naming_the_field_and_the_fix():
    (path, text), = errors(spec(ports=[8080], readiness=PROBE, order="start-first", network="host"))
    assert path == "order"
    assert '"start-first"' in text and "network: host" in text and "8080/tcp" in text
    assert "Fix: remove network: host" in text


@pytest.mark.parametrize("fields, why", [
    ({"order": "start-first", "readiness": {"type": "command", "command": ["true"]}}, "declares no ports"),
    ({"order": "start-first", "ports": [80]}, "neither a readiness probe nor a healthcheck"),
])
def test_start_first_that_cannot_work_is_refused(fields, why):
    (path, text), = errors(spec(**fields))
    assert path == "order" and why in text and "order: stop-first" in text


def test_a_drain_longer_than_the_agent_keeps_an_old_revision_is_refused():
    (path, text), = errors(spec(ports=[8080], readiness=PROBE, drain=cs.MAX_DRAIN + 1))
    assert path == "drain" and "301" in text and "at most 300" in text
    assert cs.validate(spec(ports=[8080], readiness=PROBE, drain=cs.MAX_DRAIN))["drain"] == cs.MAX_DRAIN


def test_a_drain_or_the_bridge_network_without_start_first_is_refused():
    (path, text), = errors(spec(drain=5))
    assert path == "drain" and "only applies with order: start-first" in text
    (path, text), = errors(spec(network="bridge"))
    assert path == "network" and "only works with order: start-first" in text
    (path, text), = errors(spec(order="rolling"))
    assert path == "order" and "use start-first or stop-first" in text


def test_a_deadline_shorter_than_the_interval_is_still_refused():
    (path, _text), = errors(spec(ports=[8080], readiness=dict(PROBE, interval=10, deadline=5)))
    assert path == "readiness.deadline"
