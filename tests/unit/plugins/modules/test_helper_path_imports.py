"""What a module process imports on the API helper path, in a fresh interpreter per module.

With the helper, google-cloud-compute, google.auth, proto-plus and requests are imported by the
helper only; the module process loads its own file, its module_utils and the helper's client.
The helper's server code travels with the module (its source is read) but only the helper runs it.
"""

import ast
import json
import os
import subprocess
import sys

import pytest
from ansible_collections.gce.cos.plugins import modules

MODULES = sorted(n[:-3] for n in os.listdir(modules.__path__[0]) if n.startswith("cos_") and n.endswith(".py"))
# Packages the helper path must leave to the helper (their import is most of a plain task's cost).
HELPER_ONLY = ("google", "proto", "grpc", "requests", "urllib3")
SERVER = "ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_server"
# Compiled from source in every task (AnsiballZ ships no bytecode), so imported only by the path that uses it.
ON_DEMAND = tuple("ansible_collections.gce.cos.plugins.module_utils." + m for m in ("konlet", "cloud_config"))

# The module's import, then what HelperApi does before its first exchange: read the helper's
# sources, name its socket, build the hello.
PROBE = """
import importlib, json, sys
importlib.import_module("ansible_collections.gce.cos.plugins.modules." + sys.argv[1])
from ansible_collections.gce.cos.plugins.module_utils._api_helper import api_helper_client as client
sources = client.helper_sources()
client.socket_name((1, 1), sources)
client.hello_message({"auth_kind": "accesstoken", "access_token": "t", "project": "p"})
print(json.dumps({"modules": sorted(sys.modules), "sources": {k: len(v) for k, v in sources.items()}}))
"""


def test_every_module_file_is_probed():
    assert "cos_instance_info" in MODULES and len(MODULES) >= 8, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_a_module_on_the_helper_path_imports_no_client_library(name):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), GCE_COS_API_HELPER="1")
    out = subprocess.run([sys.executable, "-c", PROBE, name], env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    loaded = [m for m in report["modules"] if m.split(".")[0] in HELPER_ONLY]
    assert loaded == [], "%s imports %s on the helper path" % (name, loaded)
    assert SERVER not in report["modules"], "%s runs the helper's server code in the module process" % name
    assert [m for m in ON_DEMAND if m in report["modules"]] == [], "imported at start-up, used by one path only"
    assert report["sources"][SERVER] > 1000, "the server's source is still sent to the helper"


@pytest.mark.parametrize("name", MODULES)
def test_a_module_turns_the_code_cache_on_before_it_imports_module_utils(name):
    """Whatever a module imports from module_utils before use_code_cache() is compiled again in every task."""
    with open(os.path.join(modules.__path__[0], name + ".py")) as handle:
        tree = ast.parse(handle.read())
    order = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ansible_collections.gce.cos"):
            order.append(("import", node.module))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            order.append(("call", getattr(node.value.func, "id", None)))
    assert order[:2] == [
        ("import", "ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache"),
        ("call", "use_code_cache"),
    ], order
