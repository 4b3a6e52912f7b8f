from ansible_collections.gce.cos.plugins.module_utils.gcp_plan import Plan, differences, merged


def test_differences_compares_only_what_is_desired():
    actual = {"name": "a", "labels": {"x": "1", "y": "2"}, "status": "RUNNING", "tags": ["t"]}
    assert differences({"name": "a", "labels": {"x": "1"}}, actual) == []
    assert differences({"labels": {"x": "2"}, "tags": ["t", "u"], "status": None}, actual) == ["labels.x", "tags"]
    assert differences({"missing": 1}, None) == ["missing"]


def test_merged_is_the_after_state():
    actual = {"a": 1, "m": {"k": "v", "j": "w"}}
    after = merged(actual, {"m": {"k": "new"}, "b": 2, "c": None})
    assert after == {"a": 1, "m": {"k": "new", "j": "w"}, "b": 2}
    assert actual == {"a": 1, "m": {"k": "v", "j": "w"}}


def test_plan_check_mode_runs_nothing_and_reports_the_same_change():
    ran = []
    plan = Plan(before={"size": 10}, after={"size": 20})
    plan.add("resize disk 'd' from 10 GB to 20 GB", lambda: ran.append("resize") or "op")
    assert plan.changed and plan.descriptions == ["resize disk 'd' from 10 GB to 20 GB"]
    assert plan.execute(check_mode=True) == [] and ran == []
    assert plan.execute() == ["op"] and ran == ["resize"]
    assert plan.diff() == {"before": {"size": 10}, "after": {"size": 20}}
    assert not Plan().changed
