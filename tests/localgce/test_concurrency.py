"""Many clients at once: no lost update, no deadlock, long-polls do not block the API."""

from __future__ import annotations

import threading

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

H = {"Metadata-Flavor": "Google"}


def test_parallel_inserts_and_fingerprint_races(api):
    api.create_instance("vm-shared")
    watchers = []
    url = api.srv.guest_url(PROJECT, ZONE, "vm-shared") + "instance/attributes/?recursive=true"
    etag = requests.get(url, headers=H).headers["ETag"]
    for _ in range(4):  # long-polls held open while the API is busy
        t = threading.Thread(target=lambda: requests.get(
            url + f"&wait_for_change=true&last_etag={etag}&timeout_sec=30", headers=H, timeout=60))
        t.start()
        watchers.append(t)
    outcomes = []
    lock = threading.Lock()

    def worker(i):
        api.ok(api.instances.insert_unary(project=PROJECT, zone=ZONE,
                                          instance_resource=api.instance_resource(f"vm-{i}")))
        # Everyone races to set metadata with the fingerprint they read: exactly the
        # fingerprint check decides who wins each round.
        inst = api.instances.get(project=PROJECT, zone=ZONE, instance="vm-shared")
        md = compute_v1.Metadata(fingerprint=inst.metadata.fingerprint,
                                 items=[compute_v1.Items(key="writer", value=str(i))])
        try:
            api.ok(api.instances.set_metadata_unary(project=PROJECT, zone=ZONE, instance="vm-shared",
                                                    metadata_resource=md))
            result = "ok"
        except exceptions.PreconditionFailed:
            result = "stale"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 12 and "ok" in outcomes
    names = {i.name for i in api.instances.list(project=PROJECT, zone=ZONE)}
    assert names == {"vm-shared", *(f"vm-{i}" for i in range(12))}
    ips = [i.network_interfaces[0].network_i_p for i in api.instances.list(project=PROJECT, zone=ZONE)]
    assert len(set(ips)) == len(ips)
    ok_writes = outcomes.count("ok")
    writes = [r for r in api.srv.requests() if r["id"] == "compute.instances.setMetadata" and r["status"] == 200]
    assert len(writes) == ok_writes
    for t in watchers:
        t.join(timeout=60)
        assert not t.is_alive()


@pytest.mark.parametrize("n", [30])
def test_many_keep_alive_connections(api, n):
    sessions = [requests.Session() for _ in range(n)]
    path = api.srv.url + f"/compute/v1/projects/{PROJECT}/zones/{ZONE}"
    errors = []

    def hit(s):
        for _ in range(5):
            r = s.get(path)
            if r.status_code != 200:
                errors.append(r.status_code)

    threads = [threading.Thread(target=hit, args=(s,)) for s in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len(api.srv.requests()) == n * 5
