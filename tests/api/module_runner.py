"""Run a gce.cos module as a real subprocess, the way Ansible's module execution does.

The module file is run by the venv's Python with the collection importable (as AnsiballZ
makes it), reads ``{"ANSIBLE_MODULE_ARGS": {...}}`` on stdin (the debug entry point of
AnsibleModule, same parsing as a controller-sent payload), and prints one JSON result.
Check and diff mode travel as ``_ansible_check_mode``/``_ansible_diff``, as the controller
sends them.

    from module_runner import run_module, connection
    result = run_module("cos_disk", dict(connection(localgce), name="d", zone="us-central1-a"))
    assert result["changed"]
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHONPATH = os.path.join(ROOT, ".build", "pythonpath")

DEFAULT_PROJECT = "test-project"
DEFAULT_TOKEN = "test-token"


def connection(localgce, project=DEFAULT_PROJECT):
    """The shared options that aim a module at a localgce (access-token auth)."""
    return {
        "project": project,
        "auth_kind": "accesstoken",
        "access_token": DEFAULT_TOKEN,
        "api_endpoint": localgce.url,
    }


class ModuleResult(dict):
    """The module's JSON result, plus ``rc`` and ``stderr`` of the process."""

    rc = 0
    stderr = ""

    @property
    def failed(self):
        return bool(self.get("failed"))


def run_module(name, args, check_mode=False, diff=True, env=None, timeout=300):
    """Run plugins/modules/NAME.py with ``args``; return its parsed JSON result.

    A module that prints no JSON (a crash before exit_json/fail_json) raises AssertionError
    with its output, so a traceback never passes for a result.
    """
    payload = dict(args)
    payload["_ansible_check_mode"] = bool(check_mode)
    payload["_ansible_diff"] = bool(diff)
    payload.setdefault("_ansible_module_name", "gce.cos." + name)
    module_path = os.path.join(ROOT, "plugins", "modules", name + ".py")
    proc_env = dict(os.environ)
    proc_env["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHONPATH, proc_env.get("PYTHONPATH")) if p)
    if env:
        proc_env.update(env)
    proc = subprocess.run(
        [sys.executable, module_path],
        input=json.dumps({"ANSIBLE_MODULE_ARGS": payload}),
        capture_output=True,
        text=True,
        env=proc_env,
        timeout=timeout,
        check=False,
    )
    result = None
    for line in reversed(proc.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
    if result is None:
        raise AssertionError(
            "module %s printed no JSON result (rc=%s)\nstdout:\n%s\nstderr:\n%s"
            % (name, proc.returncode, proc.stdout, proc.stderr)
        )
    out = ModuleResult(result)
    out.rc = proc.returncode
    out.stderr = proc.stderr
    return out


def mutating(requests):
    """The entries of a localgce request log that change something (not GETs or waits)."""
    return [r for r in requests if r.get("mutating")]


def warning_texts(result):
    """Warnings as text (run directly, a module prints them as WarningSummary objects)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def calls(requests):
    """A request log as compact ``METHOD path`` strings (query and body left out)."""
    return ["%s %s" % (r["method"], r["path"].split("/compute/v1/", 1)[-1]) for r in requests]


def run_playbook(localgce, tasks, tmp_path, project=DEFAULT_PROJECT, check=False, timeout=600):
    """Run ``tasks`` (a list of task dicts) in one play on localhost with ansible-playbook.

    The connection options come from ``module_defaults`` for ``group/gce.cos.gcp``, the way
    users set them. Returns the CompletedProcess; its stdout is the default callback's text.
    """
    import yaml

    play = [{
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/gce.cos.gcp": connection(localgce, project)},
        "tasks": tasks,
    }]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": PYTHONPATH,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "0",
    })
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if check:
        cmd.append("--check")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def module_examples(name):
    """The EXAMPLES of plugins/modules/NAME.py as a list of task dicts (read, not imported)."""
    import ast

    import yaml

    path = os.path.join(ROOT, "plugins", "modules", name + ".py")
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXAMPLES" for t in node.targets):
            return yaml.safe_load(node.value.value)
    raise AssertionError("%s has no EXAMPLES" % path)
