"""What clients other than google-cloud-compute send (gcloud above all), answered as the real API does:
full URLs on localgce's own endpoint, query booleans as "True"/"1", fingerprints in either base64
alphabet, query parameters the shipped discovery document lacks, the batch endpoint and zonal image
family views."""

from __future__ import annotations

import base64
import json

import pytest
import requests
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

from localgce import util

AUTH = {"Authorization": "Bearer t"}


def api_url(srv, rel):
    return f"{srv.url}/compute/v1/projects/{PROJECT}/{rel}"


def wait_done(srv, op):
    r = requests.post(srv.url + "/compute/v1/" + util.strip_url(op["selfLink"]) + "/wait", headers=AUTH)
    assert r.status_code == 200 and r.json()["status"] == "DONE", r.text
    assert "error" not in r.json(), r.json()
    return r.json()


def test_full_urls_on_localgce_own_endpoint_are_taken(api):
    own = f"{api.srv.url}/compute/v1/projects/{PROJECT}"
    body = {
        "name": "vm-own",
        "machineType": f"{own}/zones/{ZONE}/machineTypes/e2-small",
        "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
            "sourceImage": f"{api.srv.url}/compute/v1/projects/cos-cloud/global/images/family/cos-stable"}}],
        "networkInterfaces": [{"network": f"{own}/global/networks/default"}],
        "metadata": {"items": [{"key": "note", "value": f"{own}/stays/as/sent"}]},
    }
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/instances"), json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    wait_done(api.srv, r.json())
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-own")
    assert inst.machine_type == util.link(f"projects/{PROJECT}/zones/{ZONE}/machineTypes/e2-small")
    assert inst.network_interfaces[0].network == util.link(f"projects/{PROJECT}/global/networks/default")
    # Metadata values are user data: never rewritten.
    assert inst.metadata.items[0].value == f"{own}/stays/as/sent"
    # A query parameter naming a resource takes the own-endpoint form too.
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/disks"), json={"name": "d-own"}, headers=AUTH,
                      params={"sourceImage": f"{api.srv.url}/compute/v1/projects/cos-cloud/global/images/"
                                             "family/cos-stable"})
    assert r.status_code == 200, r.text
    wait_done(api.srv, r.json())
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="d-own")
    assert "/cos-cloud/global/images/cos-stable-" in disk.source_image


def test_a_url_on_another_host_is_still_refused(api):
    body = {"name": "d-x", "type": f"http://127.0.0.2:1/compute/v1/projects/{PROJECT}/zones/{ZONE}/diskTypes/pd-ssd"}
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/disks"), json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    assert "Must be a URL to a valid Compute resource" in r.json()["error"]["message"]


@pytest.mark.parametrize("value", ["True", "true", "1", "TRUE"])
def test_query_booleans_parse_as_the_api_parses_them(api, value):
    r = requests.get(api_url(api.srv, "aggregated/instances"), params={"includeAllScopes": value}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert f"zones/{ZONE}" in r.json()["items"]


def test_a_query_boolean_that_is_no_boolean_is_refused(api):
    r = requests.get(api_url(api.srv, "aggregated/instances"), params={"includeAllScopes": "yes"}, headers=AUTH)
    assert r.status_code == 400
    assert "TYPE_BOOL" in r.json()["error"]["message"]


def test_return_partial_success_is_taken_by_every_paged_list(api):
    for rel in ("global/operations", f"zones/{ZONE}/operations", "aggregated/instances", f"zones/{ZONE}/disks",
                "global/firewalls", "zones"):
        r = requests.get(api_url(api.srv, rel), params={"returnPartialSuccess": "True"}, headers=AUTH)
        assert r.status_code == 200, (rel, r.text)
    # Not a list: still refused, as the real API refuses unknown parameters.
    r = requests.get(api_url(api.srv, f"zones/{ZONE}"), params={"returnPartialSuccess": "True"}, headers=AUTH)
    assert r.status_code == 400


def _other_alphabet(fp):
    """The same bytes in the standard alphabet if URL-safe was given, and the other way round."""
    raw = base64.urlsafe_b64decode(fp)
    std = base64.b64encode(raw).decode()
    return std if std != fp else base64.urlsafe_b64encode(raw).decode()


def test_fingerprints_are_url_safe_and_compared_as_bytes(api):
    api.create_instance("vm-fp")
    store = api.srv.app.store
    path = f"projects/{PROJECT}/zones/{ZONE}/instances/vm-fp"
    with store.lock:
        # The seed article's fingerprint: both URL-safe characters' standard twins differ.
        store.get(path)["metadata"]["fingerprint"] = "Z713-OPoCSY="
    body = {"fingerprint": "Z713+OPoCSY=", "items": [{"key": "a", "value": "1"}]}  # standard base64 form
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/instances/vm-fp/setMetadata"), json=body, headers=AUTH)
    assert r.status_code == 200, r.text
    wait_done(api.srv, r.json())
    inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-fp")
    assert [(i.key, i.value) for i in inst.metadata.items] == [("a", "1")]
    # Every fingerprint handed out is URL-safe base64 of 8 bytes.
    for fp in (inst.metadata.fingerprint, inst.label_fingerprint, inst.tags.fingerprint, inst.fingerprint):
        assert len(base64.urlsafe_b64decode(fp)) == 8 and "+" not in fp and "/" not in fp
    # Labels, the other alphabet: taken.
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/instances/vm-fp/setLabels"), headers=AUTH,
                      json={"labelFingerprint": _other_alphabet(inst.label_fingerprint), "labels": {"k": "v"}})
    assert r.status_code == 200, r.text
    wait_done(api.srv, r.json())
    # A stale one still gets 412.
    r = requests.post(api_url(api.srv, f"zones/{ZONE}/instances/vm-fp/setLabels"), headers=AUTH,
                      json={"labelFingerprint": inst.label_fingerprint, "labels": {}})
    assert r.status_code == 412, r.text


def test_same_fingerprint_reads_either_alphabet_and_padding():
    assert util.same_fingerprint("Z713-OPoCSY=", "Z713-OPoCSY=")
    assert util.same_fingerprint("Z713+OPoCSY=", "Z713-OPoCSY=")
    assert util.same_fingerprint("Z713-OPoCSY", "Z713-OPoCSY=")
    assert util.same_fingerprint("ab_/", "ab//")
    assert not util.same_fingerprint("Z713-OPoCSA=", "Z713-OPoCSY=")
    assert not util.same_fingerprint(None, "Z713-OPoCSY=")
    assert not util.same_fingerprint("", "")
    assert not util.same_fingerprint("%%%", "%%%")


def _batch_body(boundary, parts):
    out = []
    for cid, line, body in parts:
        payload = f"{line} HTTP/1.1\nContent-Type: application/json\nMIME-Version: 1.0\nHost: x\n\n{body}"
        out.append(f"--{boundary}\nContent-Type: application/http\nMIME-Version: 1.0\n"
                   f"Content-Transfer-Encoding: binary\nContent-ID: <{cid}>\n\n{payload}\n")
    return ("".join(out) + f"--{boundary}--\n").encode()


def test_batch_answers_each_part_as_on_its_own(api):
    boundary = "===============7330845974216740156=="
    parts = [
        ("b29c5de2-0db4-490b-b421-6a51b598bd22+1", "GET /compute/v1/projects/cos-cloud/global/images?"
                                                   "filter=family+%3D+cos-stable&alt=json", ""),
        ("b29c5de2-0db4-490b-b421-6a51b598bd22+2", f"GET /compute/v1/projects/{PROJECT}/zones/{ZONE}/"
                                                   "instances/none", ""),
        ("b29c5de2-0db4-490b-b421-6a51b598bd22+3", f"POST /compute/v1/projects/{PROJECT}/zones/{ZONE}/disks",
         json.dumps({"name": "d-batch", "sizeGb": "10"})),
    ]
    r = requests.post(api.srv.url + "/batch/compute/v1", data=_batch_body(boundary, parts),
                      headers={**AUTH, "Content-Type": f'multipart/mixed; boundary="{boundary}"'})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    import email.parser

    msg = email.parser.Parser().parsestr(f"content-type: {r.headers['Content-Type']}\r\n\r\n" + r.text)
    answers = msg.get_payload()
    assert [a["Content-ID"] for a in answers] == [f"<response-{cid}>" for cid, _, _ in parts]
    status = [a.get_payload().split("\n", 1)[0].split(" ")[1] for a in answers]
    assert status == ["200", "404", "200"]
    images = json.loads(answers[0].get_payload().split("\r\n\r\n", 1)[1])
    assert {i["family"] for i in images["items"]} == {"cos-stable"}
    # Each part is in the request log, with the batch request's authorization.
    log = [(e["method"], e["path"], e["auth"]) for e in api.srv.requests()]
    assert ("POST", f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/disks", True) in log
    assert api.disks.get(project=PROJECT, zone=ZONE, disk="d-batch").size_gb == 10


def test_batch_takes_only_multipart_post(api):
    r = requests.post(api.srv.url + "/batch/compute/v1", data=b"{}", headers={**AUTH,
                                                                             "Content-Type": "application/json"})
    assert r.status_code == 400
    r = requests.get(api.srv.url + "/batch/compute/v1", headers=AUTH)
    assert r.status_code == 405


def test_zonal_image_family_views(api):
    view = requests.get(f"{api.srv.url}/compute/v1/projects/cos-cloud/zones/{ZONE}/imageFamilyViews/cos-stable",
                        headers=AUTH)
    assert view.status_code == 200, view.text
    newest = api.images.get_from_family(project="cos-cloud", family="cos-stable")
    assert view.json()["image"]["name"] == newest.name
    missing = requests.get(f"{api.srv.url}/compute/v1/projects/cos-cloud/zones/{ZONE}/imageFamilyViews/none",
                           headers=AUTH)
    assert missing.status_code == 404
    # As a source image ('-' is the instance's zone), the way gcloud --image-family sends it.
    api.create_instance("vm-view", disks=[compute_v1.AttachedDisk(
        boot=True, auto_delete=True, initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image="projects/cos-cloud/zones/-/imageFamilyViews/cos-stable"))])
    disk = api.disks.get(project=PROJECT, zone=ZONE, disk="vm-view")
    assert disk.source_image == newest.self_link


def test_instance_templates_aggregated_list(api):
    r = requests.post(api_url(api.srv, "global/instanceTemplates"), headers=AUTH, json={
        "name": "t-agg", "properties": {"machineType": "e2-small", "disks": [{"boot": True, "initializeParams": {
            "sourceImage": "projects/cos-cloud/global/images/family/cos-stable"}}]}})
    assert r.status_code == 200, r.text
    client = api.srv.client(compute_v1.InstanceTemplatesClient)
    scopes = dict(client.aggregated_list(request=compute_v1.AggregatedListInstanceTemplatesRequest(
        project=PROJECT, include_all_scopes=True)))
    assert [t.name for t in scopes["global"].instance_templates] == ["t-agg"]
    assert "regions/us-central1" in scopes
