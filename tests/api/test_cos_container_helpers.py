"""The pure parts under cos_container: user-data editing and the bounded wait on reports."""

import itertools

import pytest
import yaml
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpTimeoutError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_metadata import items_of, size_errors
from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config, container_unit, cos_agent
from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import CRASH_LOOP_RESTARTS
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import (
    FIRST_DELAY,
    MAX_DELAY,
    NEAR_DELAY,
    AgentFailure,
    outcome,
    wait_for_reports,
)
from test_cos_container import units_in

UNIT = container_unit.build({"name": "web", "image": "nginx:1.27", "secret_env": {"T": "sm://my-proj/t"}})["unit"]
USER = "#cloud-config\n# mine\nwrite_files:\n- path: /var/x\n  content: hi\nruncmd:\n- echo hi\n"


def test_user_data_edits_reach_a_fixed_point():
    once = cloud_config.with_units(USER, {"web": UNIT})
    assert cloud_config.with_units(once, {"web": UNIT}) == once
    assert units_in(once) == {"web": UNIT}
    with_agent = cloud_config.with_agent(once)
    assert cloud_config.has_agent(with_agent)
    settled = cloud_config.with_units(with_agent, {"web": UNIT})
    assert cloud_config.with_units(settled, {"web": UNIT}) == settled
    # The helper is written once: the agent's copy, not a second one for the units.
    paths = [f["path"] for f in yaml.safe_load(settled)["write_files"]]
    assert paths.count(cos_agent.FETCH_SECRETS_PATH) == 1
    # Unchanged content keeps the user's own bytes (comments included).
    assert cloud_config.with_units(USER, {}) == USER


def test_non_cloud_config_user_data_is_refused_by_kind():
    with pytest.raises(cloud_config.CloudConfigError, match="is a shell script"):
        cloud_config.with_agent("#!/bin/bash\necho hi\n")
    with pytest.raises(cloud_config.CloudConfigError, match="MIME multi-part"):
        cloud_config.with_agent('Content-Type: multipart/mixed; boundary="x"\n\n--x\n')
    with pytest.raises(cloud_config.CloudConfigError, match="must be a mapping"):
        cloud_config.with_agent("#cloud-config\n- a\n")
    assert cloud_config.with_agent("").startswith("#cloud-config\n")


def test_metadata_items_keep_order_and_sizes_are_checked():
    assert items_of({"b": "2", "new": "3", "a": "1"}, ["b", "a", "gone"]) == [
        {"key": "b", "value": "2"}, {"key": "a", "value": "1"}, {"key": "new", "value": "3"}]
    errors = size_errors({"big": "x" * (256 * 1024 + 1), "other": "y" * 300000}, "instance 'v'")
    assert any("metadata key big of instance 'v': the value has 262145 bytes" in e for e in errors)
    assert any("would hold 562153 bytes" in e and "big (262148 bytes)" in e for e in errors)


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_wait_backs_off_to_a_cap_and_gives_up_at_the_deadline():
    clock = Clock()
    targets = {"web": {"revision": "r2"}, "old": {"removed": True}}
    reports = {"web": {"revision": "r1", "state": "running"}, "old": {"state": "running"},
               "agent": {"version": "v", "time": "T", "error": ""}}
    with pytest.raises(GcpTimeoutError) as err:
        wait_for_reports(lambda: reports, targets, 60, sleep=clock.sleep, clock=clock)
    assert clock.now == pytest.approx(60)
    assert max(clock.sleeps) <= MAX_DELAY and clock.sleeps[0] == FIRST_DELAY
    assert clock.sleeps == sorted(clock.sleeps[:-1]) + clock.sleeps[-1:]
    msg = str(err.value)
    assert "web: revision r1 is running (want revision r2 running)" in msg
    assert "old: still reported running (waiting for its removal)" in msg
    assert "the agent (version v) last reported at T" in msg


def test_the_wait_reads_at_a_rate_the_api_quota_allows():
    # Each read is an instances.getGuestAttributes call against the project's API rate quota: a
    # ten-minute wait reads about 12 times a minute once grown, never more than once a second.
    clock = Clock()
    reads = []

    def read():
        reads.append(clock.now)
        return {"web": {"revision": "r1", "state": "running"}}

    with pytest.raises(GcpTimeoutError):
        wait_for_reports(read, {"web": {"revision": "r2"}}, 600, sleep=clock.sleep, clock=clock)
    per_minute = [sum(1 for t in reads if m * 60 <= t < (m + 1) * 60) for m in range(10)]
    assert per_minute[0] <= 21 and max(per_minute[1:]) <= 12, per_minute
    assert min(b - a for a, b in itertools.pairwise(reads)) >= 1.0


def test_the_wait_ends_on_success_failure_or_a_clean_stop():
    seq = iter([{}, {"web": {"revision": "r2", "state": "pulling"}}, {"web": {"revision": "r2", "state": "running"}}])
    clock = Clock()
    assert wait_for_reports(lambda: next(seq), {"web": {"revision": "r2"}}, 60, clock.sleep, clock)["web"]["state"] \
        == "running"
    with pytest.raises(AgentFailure) as failed:
        wait_for_reports(lambda: {"web": {"revision": "r2", "state": "failed", "error": "pull"}},
                         {"web": {"revision": "r2"}}, 60, clock.sleep, clock)
    assert failed.value.name == "web" and str(failed.value) == "pull"
    # A failed report of an older revision is not this task's failure: keep waiting.
    with pytest.raises(GcpTimeoutError):
        wait_for_reports(lambda: {"web": {"revision": "r1", "state": "failed"}}, {"web": {"revision": "r2"}}, 3,
                         clock.sleep, clock)
    stopped = {"web": {"revision": "r2", "state": "stopped"}}
    assert wait_for_reports(lambda: stopped, {"web": {"revision": "r2", "accept_stopped": True}}, 5, clock.sleep,
                            clock)
    with pytest.raises(GcpTimeoutError):
        wait_for_reports(lambda: stopped, {"web": {"revision": "r2"}}, 3, clock.sleep, clock)


def test_the_wait_polls_at_the_short_delay_while_the_wanted_revision_is_starting():
    clock = Clock()
    pulling = {"web": {"revision": "r2", "state": "pulling"}}
    starting = {"web": {"revision": "r2", "state": "starting"}}
    old_starting = {"web": {"revision": "r1", "state": "starting"}}
    running = {"web": {"revision": "r2", "state": "running"}}
    seq = iter([old_starting, pulling, pulling, pulling, starting, starting, starting, running])
    assert wait_for_reports(lambda: next(seq), {"web": {"revision": "r2"}}, 60, clock.sleep, clock) == running
    # Growing while the old revision starts or the new one pulls; the short fixed delay once the
    # wanted revision is starting (it turns running within the agent's minimum up time).
    assert clock.sleeps[:4] == [FIRST_DELAY, FIRST_DELAY * 1.5, FIRST_DELAY * 1.5 ** 2, FIRST_DELAY * 1.5 ** 3]
    assert clock.sleeps[4:] == [NEAR_DELAY] * 3
    assert NEAR_DELAY < FIRST_DELAY


def test_restarting_waits_but_a_crash_loop_fails_and_a_timeout_names_the_last_error():
    clock = Clock()
    # One restart at the new revision, then running: done.
    seq = iter([{"web": {"revision": "r2", "state": "restarting", "restarts": 0, "error": "hiccup"}},
                {"web": {"revision": "r2", "state": "pulling", "restarts": 1, "error": "hiccup"}},
                {"web": {"revision": "r2", "state": "running", "restarts": 1, "error": ""}}])
    assert wait_for_reports(lambda: next(seq), {"web": {"revision": "r2"}}, 60, clock.sleep, clock)["web"]["state"] \
        == "running"
    # Restarting CRASH_LOOP_RESTARTS times at the wanted revision is a failure, with the agent's error.
    loop = {"web": {"revision": "r2", "state": "restarting", "restarts": CRASH_LOOP_RESTARTS, "error": "crash"}}
    with pytest.raises(AgentFailure) as failed:
        wait_for_reports(lambda: loop, {"web": {"revision": "r2"}}, 60, clock.sleep, clock)
    assert str(failed.value) == "crash"
    # ...but not at an older revision (the agent has not applied the new one yet).
    old = {"web": {"revision": "r1", "state": "restarting", "restarts": 9, "error": "old"}}
    with pytest.raises(GcpTimeoutError):
        wait_for_reports(lambda: old, {"web": {"revision": "r2"}}, 3, clock.sleep, clock)
    # A timeout while it restarts names the last error seen, even when the last report has none.
    seq = iter([{"web": {"revision": "r2", "state": "restarting", "restarts": 1, "error": "pull: TLS timeout"}}]
               + [{"web": {"revision": "r2", "state": "starting", "restarts": 2, "error": ""}}] * 100)
    with pytest.raises(GcpTimeoutError) as err:
        wait_for_reports(lambda: next(seq), {"web": {"revision": "r2"}}, 10, clock.sleep, clock)
    assert ("web: revision r2 is starting (want revision r2 running), restarted 2 times, "
            "last error: pull: TLS timeout") in str(err.value)
    assert outcome({"revision": "r2", "state": "restarting", "restarts": CRASH_LOOP_RESTARTS - 1}, {"revision": "r2"}) \
        is None


def test_module_options_are_the_spec_rows_in_both_forms():
    """The single form and each entry of containers take the same options, made from the rows."""
    from ansible_collections.gce.cos.plugins.module_utils import container_spec
    from ansible_collections.gce.cos.plugins.modules import cos_container

    rows = container_spec.argument_spec()
    assert set(rows) == set(container_spec.FIELDS)
    for name, option in rows.items():
        assert cos_container.ARGUMENT_SPEC[name] == option
    assert cos_container.ARGUMENT_SPEC["containers"]["options"] == rows
    volume_fields = set().union(*container_spec.VOLUME_FIELDS.values())
    assert set(rows["volumes"]["options"]) == volume_fields
    assert set(rows["healthcheck"]["options"]) == set(container_spec.HEALTHCHECK_FIELDS)
