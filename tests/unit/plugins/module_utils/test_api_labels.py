# -*- coding: utf-8 -*-
"""Issue 23 item 7: an API call's label for error messages is one keyword-only ``doing``, apart from the request
fields (some of which are named ``resource``), on the plain path, through the helper and for mutations."""

import inspect

import pytest
from ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_client import HelperApi
from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_errors, gcp_operations
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule

CALLS = {
    "ComputeApi.call": ComputeApi.call,
    "ComputeApi.get": ComputeApi.get,
    "ComputeApi.list": ComputeApi.list,
    "HelperApi.call": HelperApi.call,
    "GcpModule.mutate": GcpModule.mutate,
    "gcp_operations.mutate": gcp_operations.mutate,
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_label_is_one_keyword_only_doing(name):
    params = inspect.signature(CALLS[name]).parameters
    assert params["doing"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["doing"].default is inspect.Parameter.empty
    assert "action" not in params and "resource" not in params


def test_errors_read_doing_failed():
    op = {"name": "op-1", "error": {"errors": [{"code": "QUOTA_EXCEEDED", "message": "no CPUs"}]}}
    err = gcp_errors.operation_error(op, "create instance 'web' in us-central1-a")
    assert str(err).startswith(
        "create instance 'web' in us-central1-a failed: operation op-1 ended with QUOTA_EXCEEDED: no CPUs")
