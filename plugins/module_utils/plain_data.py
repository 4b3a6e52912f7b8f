# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Plain dicts and lists for what templating hands a filter plugin.

ansible-core 2.19+ passes lazy containers (mappings and sequences that template their items on
access). Deep-copying one (``copy.deepcopy``, ``ArgumentSpecValidator.validate``) makes 2.21 build
a plugin loader with aliases, which it reports as a deprecation on every run. A filter that converts
its inputs to plain data once, at its entry, keeps the output quiet on every core.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
from collections.abc import Mapping


def plain(value):
    """VALUE with every mapping as a dict, every list as a list and every tuple as a tuple, recursively.

    Reading a lazy container's items templates them, so the result holds no lazy container.
    Strings, numbers and other leaves are returned as they are.
    """
    if isinstance(value, Mapping):
        return dict((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def without_none(value):
    """VALUE without the None entries of its mappings, recursively: AnsibleModule and its validator fill every
    unset suboption with None, and a container spec wants them absent."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


def plain_inputs(func):
    """FUNC (a filter) called with its positional and keyword arguments as plain data."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return func(*[plain(a) for a in args], **dict((k, plain(v)) for k, v in kwargs.items()))

    return wrapper
