"""The per-instance GCE metadata server (what the cos agent and the VM simulator use)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

H = {"Metadata-Flavor": "Google"}


@pytest.fixture
def vm(api):
    api.create_instance(
        "vm-md",
        metadata=compute_v1.Metadata(items=[
            compute_v1.Items(key="cos-container-web", value="unit text\nline 2"),
            compute_v1.Items(key="enable-guest-attributes", value="TRUE"),
        ]),
        service_accounts=[compute_v1.ServiceAccount(email="default",
                                                    scopes=["https://www.googleapis.com/auth/cloud-platform"])],
        network_interfaces=[compute_v1.NetworkInterface(network="global/networks/default",
                                                        access_configs=[compute_v1.AccessConfig()])],
        tags=compute_v1.Tags(items=["web"]),
    )
    return api.srv.guest_url(PROJECT, ZONE, "vm-md")


class SpacedClock:
    """The guest-attribute budget's clock for tests of other behaviour: each query comes 7 s after the last,
    so they all stay within 10 a minute and 3 a second."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 7.0
        return self.now


class ManualClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def spaced(api):
    api.srv.app.guest_budget.clock = SpacedClock()
    yield
    api.srv.app.guest_budget.clock = time.monotonic


def set_metadata(api, name, items):
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance=name)
    md = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint,
                             items=[compute_v1.Items(key=k, value=v) for k, v in items.items()])
    api.ok(api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance=name, metadata_resource=md))


def test_metadata_flavor_header_is_required(vm):
    r = requests.get(vm + "instance/id")
    assert r.status_code == 403
    r = requests.get(vm + "instance/id", headers={"Metadata-Flavor": "google-ish"})
    assert r.status_code == 403


def test_every_answer_has_flavor_and_etag(vm):
    for path in ("instance/id", "instance/attributes/", "project/project-id", "instance/nope"):
        r = requests.get(vm + path, headers=H)
        assert r.headers["Metadata-Flavor"] == "Google"
        assert r.headers["ETag"]


def test_identity_leaves(vm, api):
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-md")
    num = api.projects.get(project=PROJECT).id
    get = lambda p: requests.get(vm + p, headers=H)  # noqa: E731
    assert get("instance/id").text == str(inst.id)
    assert get("instance/name").text == "vm-md"
    assert get("instance/zone").text == f"projects/{num}/zones/{ZONE}"
    assert get("instance/hostname").text == f"vm-md.{ZONE}.c.{PROJECT}.internal"
    assert get("project/project-id").text == PROJECT
    assert get("project/numeric-project-id").text == str(num)
    assert get("instance/machine-type").text == f"projects/{num}/machineTypes/e2-small"
    assert get("instance/network-interfaces/0/ip").text == inst.network_interfaces[0].network_i_p
    assert get("instance/network-interfaces/0/access-configs/0/external-ip").text == \
        inst.network_interfaces[0].access_configs[0].nat_i_p
    assert get("instance/service-accounts/default/email").text == inst.service_accounts[0].email
    assert get("instance/tags?alt=json").json() == ["web"]
    assert get("instance/nope").status_code == 404


def test_attributes_listing_value_and_recursive_json(vm):
    r = requests.get(vm + "instance/attributes/", headers=H)
    assert r.status_code == 200
    assert r.text == "cos-container-web\nenable-guest-attributes\n"
    assert requests.get(vm + "instance/attributes/cos-container-web", headers=H).text == "unit text\nline 2"
    r = requests.get(vm + "instance/attributes/?recursive=true&alt=json", headers=H)
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"cos-container-web": "unit text\nline 2", "enable-guest-attributes": "TRUE"}
    assert requests.get(vm + "instance/attributes/missing", headers=H).status_code == 404
    top = requests.get(vm, headers=H).text.split("\n")
    assert "instance/" in top and "project/" in top


def test_recursive_instance_uses_camel_case_but_keeps_attribute_keys(vm):
    data = requests.get(vm + "instance/?recursive=true", headers=H).json()
    assert data["attributes"]["cos-container-web"].startswith("unit")
    assert data["networkInterfaces"][0]["accessConfigs"][0]["externalIp"]
    assert data["serviceAccounts"]["default"]["email"].endswith("-compute@developer.gserviceaccount.com")
    assert "token" not in json.dumps(data["serviceAccounts"])


def test_project_attributes_follow_common_instance_metadata(vm, api):
    assert requests.get(vm + "project/attributes/", headers=H).text == ""
    proj = api.projects.get(project=PROJECT)
    md = compute_v1.Metadata(fingerprint=proj.common_instance_metadata.fingerprint,
                             items=[compute_v1.Items(key="team", value="blue")])
    api.ok(api.projects.set_common_instance_metadata_unary(project=PROJECT, metadata_resource=md))
    assert requests.get(vm + "project/attributes/team", headers=H).text == "blue"


def test_service_account_token(vm):
    r = requests.get(vm + "instance/service-accounts/default/token", headers=H)
    tok = r.json()
    assert set(tok) == {"access_token", "expires_in", "token_type"}
    assert tok["token_type"] == "Bearer" and tok["expires_in"] > 0


def test_the_token_carries_the_instances_scopes_as_tokeninfo_tells(vm, api):
    """As on GCE: the scopes listed by the metadata server are the ones its token was issued for
    (oauth2.googleapis.com/tokeninfo is served at /tokeninfo)."""
    scopes = requests.get(vm + "instance/service-accounts/default/scopes", headers=H).text.split()
    assert scopes == ["https://www.googleapis.com/auth/cloud-platform"]
    tok = requests.get(vm + "instance/service-accounts/default/token", headers=H).json()
    info = requests.get(api.srv.url + "/tokeninfo", params={"access_token": tok["access_token"]}, timeout=10)
    assert info.status_code == 200 and info.json()["scope"].split() == scopes
    email = requests.get(vm + "instance/service-accounts/default/email", headers=H).text
    assert info.json()["email"] == email and 0 < int(info.json()["expires_in"]) <= tok["expires_in"]
    # POST with a form body, as some clients send it; an unknown token is Google's 400.
    posted = requests.post(api.srv.url + "/tokeninfo", data={"access_token": tok["access_token"]}, timeout=10)
    assert posted.json()["scope"] == info.json()["scope"]
    bad = requests.get(api.srv.url + "/tokeninfo", params={"access_token": "ya29.not-issued"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_token"


def test_no_service_account_no_token(api):
    api.create_instance("vm-nosa")
    url = api.srv.guest_url(PROJECT, ZONE, "vm-nosa")
    assert requests.get(url + "instance/service-accounts/default/token", headers=H).status_code == 404


def test_wait_for_change_returns_at_once_when_etag_differs(vm):
    r = requests.get(vm + "instance/attributes/?recursive=true&wait_for_change=true&last_etag=stale&timeout_sec=30",
                     headers=H, timeout=5)
    assert r.status_code == 200
    assert r.json()["enable-guest-attributes"] == "TRUE"


def test_wait_for_change_times_out_with_same_content(vm):
    first = requests.get(vm + "instance/attributes/?recursive=true", headers=H)
    etag = first.headers["ETag"]
    r = requests.get(vm + f"instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=0.2",
                     headers=H, timeout=5)
    assert r.headers["ETag"] == etag
    assert r.json() == first.json()


def test_wait_for_change_wakes_on_set_metadata(vm, api):
    first = requests.get(vm + "instance/attributes/?recursive=true", headers=H)
    etag = first.headers["ETag"]
    got = {}
    started = threading.Event()

    def poll():
        started.set()
        got["r"] = requests.get(
            vm + f"instance/attributes/?recursive=true&wait_for_change=true&last_etag={etag}&timeout_sec=60",
            headers=H, timeout=70)

    t = threading.Thread(target=poll)
    t.start()
    started.wait()
    set_metadata(api, "vm-md", {"cos-container-web": "v2", "enable-guest-attributes": "TRUE"})
    t.join(timeout=30)
    assert not t.is_alive()
    assert got["r"].json()["cos-container-web"] == "v2"
    assert got["r"].headers["ETag"] != etag


def test_etag_only_changes_with_content(vm, api):
    e1 = requests.get(vm + "instance/attributes/cos-container-web", headers=H).headers["ETag"]
    set_metadata(api, "vm-md", {"cos-container-web": "unit text\nline 2", "enable-guest-attributes": "TRUE",
                                "other": "x"})
    assert requests.get(vm + "instance/attributes/cos-container-web", headers=H).headers["ETag"] == e1
    set_metadata(api, "vm-md", {"cos-container-web": "changed", "enable-guest-attributes": "TRUE"})
    assert requests.get(vm + "instance/attributes/cos-container-web", headers=H).headers["ETag"] != e1


def test_guest_attributes_put_get_delete_and_api_read(vm, api, spaced):
    url = vm + "instance/guest-attributes/cos-agent/web"
    assert requests.put(url, data='{"state": "running"}', headers=H).status_code == 200
    assert requests.get(url, headers=H).text == '{"state": "running"}'
    assert requests.get(vm + "instance/guest-attributes/", headers=H).text == "cos-agent/\n"
    res = api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
        project=PROJECT, zone=ZONE, instance="vm-md", query_path="cos-agent/"))
    assert [(i.namespace, i.key, i.value) for i in res.query_value.items] == [
        ("cos-agent", "web", '{"state": "running"}')]
    res = api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
        project=PROJECT, zone=ZONE, instance="vm-md", variable_key="cos-agent/web"))
    assert res.variable_value == '{"state": "running"}'
    assert requests.delete(url, headers=H).status_code == 200
    assert requests.get(url, headers=H).status_code == 404
    with pytest.raises(exceptions.NotFound):
        api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
            project=PROJECT, zone=ZONE, instance="vm-md", variable_key="cos-agent/web"))


def test_guest_attributes_need_enable_guest_attributes(api):
    api.create_instance("vm-noga")
    url = api.srv.guest_url(PROJECT, ZONE, "vm-noga") + "instance/guest-attributes/ns/k"
    assert requests.put(url, data="v", headers=H).status_code == 403
    set_metadata(api, "vm-noga", {"enable-guest-attributes": "true"})
    assert requests.put(url, data="v", headers=H).status_code == 200


def test_server_side_guest_attribute_and_long_poll_on_it(vm, api):
    api.srv.set_guest_attribute(PROJECT, ZONE, "vm-md", "ns", "k", "v1")
    url = vm + "instance/guest-attributes/ns/k"
    assert requests.get(url, headers=H).text == "v1"


def test_unknown_instance_is_404(api):
    url = api.srv.guest_url(PROJECT, ZONE, "ghost")
    assert requests.get(url + "instance/id", headers=H).status_code == 404


def test_guest_reads_are_not_in_the_api_log(vm, api):
    api.srv.clear_requests()
    requests.get(vm + "instance/id", headers=H)
    assert api.srv.requests() == []
    assert api.srv.guest_requests()[-1]["path"].endswith("/instance/id")


def test_directory_without_slash_redirects_like_gce(vm):
    r = requests.get(vm + "instance/attributes", headers=H, allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == vm + "instance/attributes/"
    assert requests.get(vm + "instance/attributes?recursive=true", headers=H).json()["enable-guest-attributes"]


def test_guest_faults_answer_one_instances_matching_requests_until_cleared(vm, api):
    # POST /_localgce/guest-faults: the VM's metadata server refuses guest-attribute writes.
    control = api.srv.url + "/_localgce/guest-faults"
    r = requests.post(control, json={"instance": "vm-md", "method": "PUT", "path": "^instance/guest-attributes/",
                                     "status": 503})
    assert r.status_code == 200 and r.json()["count"] == -1
    for _ in range(2):
        assert requests.put(vm + "instance/guest-attributes/ns/k", data="v", headers=H).status_code == 503
    # Reads, and other instances, are served as usual.
    assert requests.get(vm + "instance/name", headers=H).text == "vm-md"
    assert requests.get(control).json()[0]["hits"] == 2
    assert requests.delete(control).status_code == 200
    assert requests.put(vm + "instance/guest-attributes/ns/k", data="v", headers=H).status_code == 200
    # count: only that many requests; missing fields are a 400 naming them.
    requests.post(control, json={"instance": "vm-md", "status": 502, "count": 1})
    assert requests.get(vm + "instance/name", headers=H).status_code == 502
    assert requests.get(vm + "instance/name", headers=H).status_code == 200
    r = requests.post(control, json={"status": 503})
    assert r.status_code == 400 and "instance" in r.json()["error"]


def ga_put(vm, key, value):
    return requests.put(vm + "instance/guest-attributes/cos-agent/" + key, data=value, headers=H)


def api_value(api, key):
    try:
        return api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
            project=PROJECT, zone=ZONE, instance="vm-md", variable_key="cos-agent/" + key)).variable_value
    except exceptions.NotFound:
        return None


def budget_of(api):
    return requests.get(api.srv.url + "/_localgce/guest-budget").json()["instances"]["%s/%s/vm-md" % (PROJECT, ZONE)]


def test_guest_attribute_writes_over_3_a_second_are_dropped(vm, api):
    # Compute Engine: at most 3 guest-attribute queries a second per VM; above that it "might arbitrarily
    # remove guest attributes that are in the process of being written". The 4th write within one second
    # is answered 200 and the attribute it writes is gone (old value included).
    clock = api.srv.app.guest_budget.clock = ManualClock()
    try:
        for i in range(3):
            assert ga_put(vm, "web", "v%d" % i).status_code == 200
            clock.now += 0.3
        assert api_value(api, "web") == "v2"
        assert ga_put(vm, "web", "v3").status_code == 200  # 0.9 s after the first
        assert api_value(api, "web") is None
        assert budget_of(api)["drops"] == 1
        clock.now += 0.2  # the first write is now 1.1 s old, but the dropped one counts too: still 3
        assert ga_put(vm, "web", "v4").status_code == 200
        assert api_value(api, "web") is None
        clock.now += 0.5  # 1.5 s after the second write: two in the last second
        assert ga_put(vm, "web", "v5").status_code == 200
        assert api_value(api, "web") == "v5"
    finally:
        api.srv.app.guest_budget.clock = time.monotonic
    verdicts = [e.get("budget") for e in api.srv.guest_requests() if e["method"] == "PUT"]
    assert verdicts == ["ok", "ok", "ok", "dropped", "dropped", "ok"]
    assert budget_of(api) == {"id": budget_of(api)["id"], "queries": 6, "writes": 6, "drops": 2, "over": 0}


def test_guest_attribute_queries_over_10_a_minute_are_dropped_reads_count_too(vm, api):
    clock = api.srv.app.guest_budget.clock = ManualClock()
    try:
        for i in range(5):
            assert ga_put(vm, "k%d" % i, "v").status_code == 200
            clock.now += 1.0
        for _ in range(5):  # reads from the guest are queries too
            assert requests.get(vm + "instance/guest-attributes/cos-agent/k0", headers=H).text == "v"
            clock.now += 1.0
        # 10 queries in the last 60 s: an 11th write is dropped, a DELETE is answered but not done,
        # a read is answered and counted over the budget.
        assert ga_put(vm, "late", "v").status_code == 200
        assert requests.delete(vm + "instance/guest-attributes/cos-agent/k1", headers=H).status_code == 200
        assert requests.get(vm + "instance/guest-attributes/cos-agent/k1", headers=H).text == "v"
        assert api_value(api, "late") is None and api_value(api, "k1") == "v"
        counts = budget_of(api)
        assert (counts["writes"], counts["drops"], counts["over"]) == (7, 2, 1)
        assert counts["queries"] == 13
        # Over-budget queries count as well: just before the first query (at 1000 s) is 60 s old, the
        # window holds 13 queries, so a write is still dropped ...
        clock.now = 1059.5
        assert ga_put(vm, "late", "v2").status_code == 200
        assert api_value(api, "late") is None
        # ... and once those have aged out, it is stored.
        clock.now = 1065.5
        assert ga_put(vm, "late", "v3").status_code == 200
        assert api_value(api, "late") == "v3"
    finally:
        api.srv.app.guest_budget.clock = time.monotonic


def test_guest_budget_is_per_vm_and_reset_clears_it(vm, api):
    api.create_instance("vm-other", metadata=compute_v1.Metadata(items=[
        compute_v1.Items(key="enable-guest-attributes", value="TRUE")]))
    other = api.srv.guest_url(PROJECT, ZONE, "vm-other")
    api.srv.app.guest_budget.clock = ManualClock()
    try:
        for _ in range(3):
            assert ga_put(vm, "web", "x").status_code == 200
        assert ga_put(other, "web", "y").status_code == 200
        assert api.instances.get_guest_attributes(request=compute_v1.GetGuestAttributesInstanceRequest(
            project=PROJECT, zone=ZONE, instance="vm-other", variable_key="cos-agent/web")).variable_value == "y"
        assert budget_of(api)["drops"] == 0
    finally:
        api.srv.app.guest_budget.clock = time.monotonic
    requests.post(api.srv.url + "/_localgce/reset")
    assert requests.get(api.srv.url + "/_localgce/guest-budget").json()["instances"] == {}
