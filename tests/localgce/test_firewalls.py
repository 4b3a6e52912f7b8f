"""firewalls: insert, get, list, patch, update, delete."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT

LINK = "https://www.googleapis.com/compute/v1/"


def rule(name="allow-web", ports=("80",), **kw):
    return compute_v1.Firewall(name=name, allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=list(ports))],
                               target_tags=["web"], **kw)


def test_default_network_rules_exist(api):
    names = {f.name for f in api.firewalls.list(project=PROJECT)}
    assert {"default-allow-ssh", "default-allow-internal", "default-allow-icmp", "default-allow-rdp"} <= names


def test_insert_get_defaults(api):
    op = api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule())
    assert not op.zone and not op.region
    api.ok(op)
    fw = api.firewalls.get(project=PROJECT, firewall="allow-web")
    assert fw.network == f"{LINK}projects/{PROJECT}/global/networks/default"
    assert fw.priority == 1000 and fw.direction == "INGRESS" and list(fw.source_ranges) == ["0.0.0.0/0"]
    assert fw.allowed[0].I_p_protocol == "tcp" and list(fw.allowed[0].ports) == ["80"]
    assert fw.self_link == f"{LINK}projects/{PROJECT}/global/firewalls/allow-web"
    assert list(fw.target_tags) == ["web"] and fw.id
    ops = [o.name for o in api.global_ops.list(project=PROJECT)]
    assert op.name in ops


def test_insert_existing_is_409_and_missing_is_404(api):
    api.ok(api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule()))
    with pytest.raises(exceptions.Conflict) as exc:
        api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule())
    assert exc.value.errors[0]["reason"] == "alreadyExists"
    with pytest.raises(exceptions.NotFound) as exc:
        api.firewalls.get(project=PROJECT, firewall="nope")
    assert exc.value.errors[0]["message"] == f"The resource 'projects/{PROJECT}/global/firewalls/nope' was not found"
    with pytest.raises(exceptions.NotFound):
        api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule("x", network="global/networks/nope"))
    with pytest.raises(exceptions.BadRequest):
        api.firewalls.insert_unary(project=PROJECT, firewall_resource=compute_v1.Firewall(name="no-rules"))


def test_patch_merges_and_update_replaces(api):
    api.ok(api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule(source_ranges=["10.0.0.0/8"])))
    # The discovery document marks name as required for patch, so the body carries it.
    patch = compute_v1.Firewall(name="allow-web", allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["80", "443"])])
    api.ok(api.firewalls.patch_unary(project=PROJECT, firewall="allow-web", firewall_resource=patch))
    fw = api.firewalls.get(project=PROJECT, firewall="allow-web")
    assert list(fw.allowed[0].ports) == ["80", "443"]
    assert list(fw.source_ranges) == ["10.0.0.0/8"] and list(fw.target_tags) == ["web"]
    api.ok(api.firewalls.update_unary(project=PROJECT, firewall="allow-web", firewall_resource=rule(ports=["8080"])))
    fw = api.firewalls.get(project=PROJECT, firewall="allow-web")
    assert list(fw.allowed[0].ports) == ["8080"] and list(fw.source_ranges) == ["0.0.0.0/0"]
    with pytest.raises(exceptions.NotFound):
        api.firewalls.patch_unary(project=PROJECT, firewall="nope", firewall_resource=patch)


def test_delete(api):
    api.ok(api.firewalls.insert_unary(project=PROJECT, firewall_resource=rule()))
    api.ok(api.firewalls.delete_unary(project=PROJECT, firewall="allow-web"))
    with pytest.raises(exceptions.NotFound):
        api.firewalls.get(project=PROJECT, firewall="allow-web")
