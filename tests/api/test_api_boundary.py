"""JSON at the API boundary: every ComputeApi call returns plain dicts and lists, every page read,
the same on the plain path and through the API helper (real google-cloud-compute against localgce).
"""

import json
import os
import shutil
import signal
import tempfile

import pytest
from estate import PROJECT, ZONES, Estate

from localgce.testing import LocalGCE


@pytest.fixture(scope="module")
def lgce():
    srv = LocalGCE.start()
    estate = Estate(srv)
    for i in range(7):
        estate.agent_vm("b-%02d" % i, ZONES[i % 3], labels={"n": str(i)})
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def apis(lgce):
    """(plain ComputeApi, HelperApi) for the same project and endpoint; the helper is this test's own."""
    from ansible_collections.gce.cos.plugins.module_utils._api_helper import api_helper_client as client
    from ansible_collections.gce.cos.plugins.module_utils._api_helper import api_helper_protocol as protocol
    from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
    from google.oauth2.credentials import Credentials

    run_dir = tempfile.mkdtemp(prefix="gcb", dir="/tmp")  # short: the socket path must fit
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = run_dir
    plain = ComputeApi(Credentials(token="t"), PROJECT, lgce.url, auth_kind="accesstoken")
    owner = (os.getpid(), protocol.process_stat(os.getpid())[1])
    hello = client.hello_message({"auth_kind": "accesstoken", "access_token": "t", "project": PROJECT,
                                  "api_endpoint": lgce.url})
    fallbacks = []
    helper = client.HelperApi(hello, owner, plain=lambda: fallbacks.append(1) or plain, idle_timeout=60)
    try:
        yield plain, helper
    finally:
        helper.close()
        assert fallbacks == [], "every call was answered by the helper"
        pid = _helper_pid(run_dir)
        if pid:
            os.kill(pid, signal.SIGTERM)
        if saved is None:
            del os.environ["XDG_RUNTIME_DIR"]
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved
        shutil.rmtree(run_dir, ignore_errors=True)


def _helper_pid(run_dir):
    import subprocess
    import sys

    probe = os.path.join(os.path.dirname(os.path.abspath(__file__)), "api_helper_probe.py")
    out = subprocess.run([sys.executable, probe, run_dir], capture_output=True, text=True, check=False)
    helpers = [h for h in json.loads(out.stdout)["helpers"] if "pid" in h] if out.returncode == 0 else []
    return helpers[0]["pid"] if helpers else None


def plain_json(value):
    """True when VALUE is made of dicts, lists, strings, numbers, booleans and None only."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and plain_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(plain_json(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


CALLS = {
    "get": ("instances", "get", dict(zone=ZONES[0], instance="b-00")),
    "list, three pages": ("instances", "list", dict(zone=ZONES[0], max_results=1)),
    "aggregated_list, several pages": ("instances", "aggregated_list", dict(max_results=2)),
    "aggregated_list, filtered": ("instances", "aggregated_list", dict(filter="name = b-04")),
    "get_guest_attributes": ("instances", "get_guest_attributes",
                             dict(zone=ZONES[1], instance="b-01", query_path="cos-agent/")),
    "zones list": ("zones", "list", {}),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_same_call_gives_equal_plain_data_on_both_paths(apis, name):
    plain, helper = apis
    service, method, fields = CALLS[name]
    direct = plain.call(service, method, doing="read " + name, project=PROJECT, **fields)
    through = helper.call(service, method, doing="read " + name, project=PROJECT, **fields)
    assert plain_json(direct), direct
    assert through == direct


def test_lists_and_aggregated_lists_follow_every_page(apis):
    plain, helper = apis
    for api in (plain, helper):
        before = api.request_count
        items = api.list("instances", doing="read instances", project=PROJECT, zone=ZONES[0], max_results=1)
        assert isinstance(items, list) and [i["name"] for i in items] == ["b-00", "b-03", "b-06"]
        assert api.request_count - before == 3, "one request per page"
        scopes = api.call("instances", "aggregated_list", doing="read instances", project=PROJECT, max_results=2)
        assert isinstance(scopes, dict)
        names = sorted(i["name"] for scoped in scopes.values() for i in scoped.get("instances") or [])
        assert names == ["b-%02d" % i for i in range(7)]


def test_a_missing_resource_is_none_on_both_paths(apis):
    for api in apis:
        assert api.get("instances", doing="read x", project=PROJECT, zone=ZONES[0], instance="absent") is None
