"""Offline stand-in for the get-pip.py that ansible-test downloads (it cannot be downloaded here).

ansible-test runs it with the venv's interpreter and pip-install arguments; bootstrapping
pip from the interpreter's own ensurepip, then installing from the configured index,
avoids the download that fails on machines without general internet access.
"""

import subprocess
import sys

args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
