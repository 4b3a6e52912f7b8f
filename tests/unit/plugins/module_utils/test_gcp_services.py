# -*- coding: utf-8 -*-
"""gcp_client.SERVICES is the one table of the Compute services a module may call: each entry's names give
the installed client class and the request classes the API spells, so a typo fails here, not in a task."""

import importlib

import pytest
from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_client
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import SERVICES, ComputeApi


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_client_class_is_the_plural_plus_client(service):
    gcp_client._compute_package()
    module = importlib.import_module("google.cloud.compute_v1.services.%s" % service)
    assert getattr(module, SERVICES[service][1] + "Client").__name__ == SERVICES[service][1] + "Client"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_get_and_list_requests_resolve(service):
    singular, plural = SERVICES[service]
    assert ComputeApi._request_class(service, "get").__name__ == "Get%sRequest" % singular
    assert ComputeApi._request_class(service, "list").__name__ == "List%sRequest" % plural


def test_a_compound_method_takes_the_right_noun():
    assert ComputeApi._request_class("instances", "insert_unary").__name__ == "InsertInstanceRequest"
    assert ComputeApi._request_class("instances", "aggregated_list").__name__ == "AggregatedListInstancesRequest"
    assert (ComputeApi._request_class("instance_group_managers", "list_managed_instances").__name__
            == "ListManagedInstancesInstanceGroupManagersRequest")
    assert (ComputeApi._request_class("instances", "set_metadata_unary").__name__ == "SetMetadataInstanceRequest")
