"""Make the collection importable as ansible_collections.gce.cos for every test run."""

import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
_BUILD = os.path.join(_ROOT, ".build", "pythonpath")
_LINK = os.path.join(_BUILD, "ansible_collections", "gce", "cos")

if not os.path.exists(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    os.symlink(_ROOT, _LINK)
if _BUILD not in sys.path:
    sys.path.insert(0, _BUILD)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
