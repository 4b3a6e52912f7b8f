"""The code cache of the helper path: modules loaded from a zip, as AnsiballZ ships them.

Each test packs the collection's modules and module_utils into a zip laid out as an AnsiballZ
payload (sources only, an __init__.py in every package) and imports a module from it in a fresh
interpreter, as a task does, with the private directory under the test's own XDG_RUNTIME_DIR.
"""

import json
import os
import stat
import subprocess
import sys
import zipfile

import pytest
from ansible_collections.gce.cos.plugins import modules

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PLUGINS = os.path.join(ROOT, "plugins")
MODULES = sorted(n[:-3] for n in os.listdir(modules.__path__[0]) if n.startswith("cos_") and n.endswith(".py"))
MU = "ansible_collections.gce.cos.plugins.module_utils."

# A task's start-up: import the module file (its main() does not run), report how its code was obtained.
PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
importlib.import_module("ansible_collections.gce.cos.plugins.modules." + sys.argv[2])
from ansible_collections.gce.cos.plugins.module_utils._api_helper import code_cache
from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_names
print(json.dumps({
    "from_cache": code_cache.FROM_CACHE,
    "compiled": code_cache.COMPILED,
    "names_file": gcp_names.__file__,
    "code_file": gcp_names.zone_error.__code__.co_filename,
    "extra": getattr(gcp_names, "EXTRA_FOR_TEST", None),
}))
"""


def pack(path, extra=None):
    """A zip of the collection's plugins as AnsiballZ lays it out; extra: {module_utils file: text appended}."""
    extra = extra or {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        packages = {"ansible_collections", "ansible_collections/gce", "ansible_collections/gce/cos"}
        for kind in ("modules", "module_utils"):
            for base, _dirs, files in os.walk(os.path.join(PLUGINS, kind)):
                rel = os.path.relpath(base, PLUGINS)
                arc = "ansible_collections/gce/cos/plugins/" + rel
                parts = arc.split("/")
                packages.update("/".join(parts[: i + 1]) for i in range(len(parts)))
                for name in files:
                    if name.endswith(".py"):
                        with open(os.path.join(base, name)) as handle:
                            text = handle.read()
                        text += extra.get(os.path.join(rel, name), "")
                        zf.writestr(arc + "/" + name, text)
        names = set(zf.namelist())
        for package in packages:
            if package + "/__init__.py" not in names:
                zf.writestr(package + "/__init__.py", "")
    return str(path)


@pytest.fixture
def runtime(tmp_path):
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    return run


def start(zip_path, runtime, name="cos_instance_group", switch="1", **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GCE_COS_API_HELPER", "GCE_COS_CODE_CACHE")}
    env.update(extra)
    # The interpreter's own site-packages (ansible) but not the collection on disk: only the zip has it.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and "pythonpath" not in p and p != ROOT)
    env["XDG_RUNTIME_DIR"] = str(runtime)
    if switch is not None:
        env["GCE_COS_API_HELPER"] = switch
    out = subprocess.run([sys.executable, "-c", PROBE, zip_path, name], env=env, capture_output=True, text=True,
                         check=False, cwd=str(runtime))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def entries(runtime):
    code = runtime / "gce-cos" / "code"
    return sorted(code.iterdir()) if code.exists() else []


@pytest.mark.parametrize("name", MODULES)
def test_the_second_task_of_a_module_compiles_none_of_its_module_utils(tmp_path, runtime, name):
    first = start(pack(tmp_path / "a.zip"), runtime, name)
    assert first["compiled"] and first["from_cache"] == [], "a cold cache compiles (and stores) every file"
    assert MU + "_gcp.gcp_module" in first["compiled"]
    # The next task has its own zip at another path, as every AnsiballZ payload does.
    second = start(pack(tmp_path / "b.zip"), runtime, name)
    assert second["compiled"] == []
    assert sorted(second["from_cache"]) == sorted(first["compiled"])


def test_entries_are_private_files_in_a_private_directory(tmp_path, runtime):
    start(pack(tmp_path / "a.zip"), runtime)
    directory = runtime / "gce-cos" / "code"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((runtime / "gce-cos").stat().st_mode) == 0o700
    assert entries(runtime) and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries(runtime))
    assert not [p for p in entries(runtime) if p.name.endswith(".tmp")]


def test_code_from_the_cache_names_this_tasks_file(tmp_path, runtime):
    start(pack(tmp_path / "a.zip"), runtime)
    second = start(pack(tmp_path / "b.zip"), runtime)
    assert MU + "_gcp.gcp_names" in second["from_cache"]
    expected = os.path.join(str(tmp_path / "b.zip"),
                            "ansible_collections/gce/cos/plugins/module_utils/_gcp/gcp_names.py")
    assert second["names_file"] == expected
    assert second["code_file"] == expected, "tracebacks show the source of this task's zip"


def test_a_changed_source_is_compiled_again_and_its_new_code_runs(tmp_path, runtime):
    start(pack(tmp_path / "a.zip"), runtime)
    changed = start(pack(tmp_path / "b.zip", {"module_utils/_gcp/gcp_names.py": "\nEXTRA_FOR_TEST = 42\n"}), runtime)
    assert changed["compiled"] == [MU + "_gcp.gcp_names"]
    assert changed["extra"] == 42
    again = start(pack(tmp_path / "c.zip"), runtime)
    assert again["compiled"] == [] and again["extra"] is None, "the first version's entry is still used"


def test_a_corrupt_or_opened_up_entry_is_not_used(tmp_path, runtime):
    first = start(pack(tmp_path / "a.zip"), runtime)
    files = entries(runtime)
    files[0].write_bytes(b"\xe3 not marshal data")
    os.chmod(files[1], 0o644)
    second = start(pack(tmp_path / "b.zip"), runtime)
    assert len(second["compiled"]) == 2, "both compiled from source instead"
    assert sorted(second["compiled"] + second["from_cache"]) == sorted(first["compiled"])
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in entries(runtime))
    third = start(pack(tmp_path / "c.zip"), runtime)
    assert third["compiled"] == [], "both were replaced by entries of their own"


def test_a_directory_that_is_not_private_is_not_used(tmp_path, runtime):
    (runtime / "gce-cos").mkdir(mode=0o700)
    (runtime / "gce-cos" / "code").mkdir()
    os.chmod(runtime / "gce-cos" / "code", 0o755)
    start(pack(tmp_path / "a.zip"), runtime)
    second = start(pack(tmp_path / "b.zip"), runtime)
    assert second["from_cache"] == [] and entries(runtime) == []


@pytest.mark.parametrize("switch", [None, "0"])
def test_without_the_switch_nothing_is_cached(tmp_path, runtime, switch):
    got = start(pack(tmp_path / "a.zip"), runtime, switch=switch)
    assert got["compiled"] == [] and got["from_cache"] == []
    assert not (runtime / "gce-cos").exists()


def test_the_cache_can_be_turned_off_on_the_helper_path(tmp_path, runtime):
    got = start(pack(tmp_path / "a.zip"), runtime, GCE_COS_CODE_CACHE="0")
    assert got["compiled"] == [] and got["from_cache"] == [], "the zipimporter loads everything, as on the plain path"
    assert not (runtime / "gce-cos").exists()
