from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_plan import Plan


def test_plan_check_mode_runs_nothing_and_reports_the_same_change():
    ran = []
    plan = Plan(before={"size": 10}, after={"size": 20})
    plan.add("resize disk 'd' from 10 GB to 20 GB", lambda: ran.append("resize") or "op")
    assert plan.changed and plan.descriptions == ["resize disk 'd' from 10 GB to 20 GB"]
    assert plan.execute(check_mode=True) == [] and ran == []
    assert plan.execute() == ["op"] and ran == ["resize"]
    assert plan.diff() == {"before": {"size": 10}, "after": {"size": 20}}
    assert not Plan().changed


def test_plan_keeps_its_own_after_from_the_steps():
    before = {"name": "d", "size_gb": 10, "boot": {"size_gb": 10, "auto_delete": True}, "labels": {"a": "1"}}
    plan = Plan(before=before)
    assert plan.after == before and plan.after is not before
    plan.add("grow", lambda: None, after={"size_gb": 20, "boot.size_gb": 30})
    plan.add("label", lambda: None, after={"labels": {"b": "2"}, "new.nested": 1})
    plan.record({"status": "RUNNING"})
    assert plan.after == {
        "name": "d", "size_gb": 20, "boot": {"size_gb": 30, "auto_delete": True}, "labels": {"b": "2"},
        "new": {"nested": 1}, "status": "RUNNING",
    }
    # The before stays as it was read.
    assert before == {"name": "d", "size_gb": 10, "boot": {"size_gb": 10, "auto_delete": True}, "labels": {"a": "1"}}
    assert plan.diff(view=lambda s: {k: v for k, v in s.items() if k != "status"})["after"].get("status") is None


def test_a_plan_without_steps_has_the_same_before_and_after():
    plan = Plan(before={"x": 1})
    assert plan.diff() == {"before": {"x": 1}, "after": {"x": 1}}
    assert Plan(before=None, after={}).diff() == {"before": {}, "after": {}}


def test_a_step_can_leave_a_whole_new_state():
    plan = Plan(before={"name": "r", "allowed": ["tcp"]})
    plan.add("replace", lambda: None, becomes={"name": "r", "denied": ["udp"]})
    assert plan.after == {"name": "r", "denied": ["udp"]}
    plan.add("delete", lambda: None, becomes={})
    assert plan.diff() == {"before": {"name": "r", "allowed": ["tcp"]}, "after": {}}
