"""The venv of each supported ansible-core (the Makefile's `venv` target builds them).

A venv is looked up in the checkout first, then next to the venv that runs pytest (a worktree
shares the main checkout's venvs). A missing venv fails the test that needs it: never a skip.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ansible-core line -> the Makefile's venv for it (controller Python in the comment).
CORES = {
    "2.19": ".venv311",  # Python 3.11
    "2.20": ".venv313",  # Python 3.13
    "2.21": ".venv",  # Python 3.12
}


def venv_bin(core):
    """The bin directory of the venv that holds ansible-core CORE."""
    name = CORES[core]
    here = os.path.dirname(os.path.dirname(sys.executable))
    candidates = [os.path.join(ROOT, name), os.path.join(os.path.dirname(here), name)]
    for venv in candidates:
        python = os.path.join(venv, "bin", "python")
        if os.path.exists(python):
            out = subprocess.run([python, "-c", "import ansible.release as r; print(r.__version__)"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            assert out.startswith(core + "."), "%s holds ansible-core %s, not %s" % (venv, out, core)
            return os.path.join(venv, "bin")
    raise AssertionError("no venv for ansible-core %s (looked in %s); run `make venv`" % (core, ", ".join(candidates)))
