# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Desired versus actual state as plain data, and the ordered plan of API calls between them.

A module compares dicts, adds one step per API call it needs, and hands the plan over:
check mode reports the same plan without running it, and the diff is its before/after.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy


class Step:
    def __init__(self, description, run):
        self.description = description
        self.run = run


class Plan:
    def __init__(self, before=None, after=None):
        self.steps = []
        self.before = before
        self.after = after

    def add(self, description, run):
        self.steps.append(Step(description, run))
        return self

    @property
    def changed(self):
        return bool(self.steps)

    @property
    def descriptions(self):
        return [step.description for step in self.steps]

    def execute(self, check_mode=False):
        """Run every step in order; in check mode run none. Returns the steps' results."""
        if check_mode:
            return []
        return [step.run() for step in self.steps]

    def diff(self):
        return {"before": self.before if self.before is not None else {}, "after": self.after or {}}


def differences(desired, actual, prefix=""):
    """Dotted paths where ``desired`` differs from ``actual``.

    Only keys present in ``desired`` with a value other than None are compared: a desired
    state is partial (what the user set), the actual one complete (what the API returns).
    Lists and scalars compare whole.
    """
    paths = []
    actual = actual or {}
    for key in sorted(desired):
        want = desired[key]
        if want is None:
            continue
        have = actual.get(key)
        path = prefix + key
        if isinstance(want, dict) and isinstance(have, dict):
            paths.extend(differences(want, have, path + "."))
        elif want != have:
            paths.append(path)
    return paths


def merged(actual, desired):
    """``actual`` updated with the non-None parts of ``desired`` (deep for dicts): the 'after'."""
    result = copy.deepcopy(actual) if actual else {}
    for key, want in desired.items():
        if want is None:
            continue
        if isinstance(want, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], want)
        else:
            result[key] = copy.deepcopy(want)
    return result
