# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The ordered plan of API calls between the actual and the desired state, with its own before/after.

A module starts a plan with the resource's summary as it is (``before``) and adds one step per
API call it needs; each step names the summary fields it makes true, so the plan keeps the
``after`` itself (as community.docker's DifferenceTracker does). Check mode reports the same
plan without running it, and the diff is its before/after.
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
        """``after`` defaults to ``before``: a resource no step changes stays as it is."""
        self.steps = []
        self.before = before if before is not None else {}
        self.after = copy.deepcopy(self.before) if after is None else after

    def add(self, description, run, after=None, becomes=None):
        """Add a step; ``after`` maps summary fields (dotted for nested ones) to what the step makes them.

        ``becomes`` is the whole summary a step leaves instead (a create, a replace; {} for a delete).
        """
        self.steps.append(Step(description, run))
        if becomes is not None:
            self.after = copy.deepcopy(becomes)
        self.record(after)
        return self

    def record(self, after):
        """Note fields of the after state that no step of its own sets (e.g. a status that follows)."""
        for path, value in (after or {}).items():
            keys = path.split(".")
            target = self.after
            for key in keys[:-1]:
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                target = target[key]
            target[keys[-1]] = copy.deepcopy(value)
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

    def diff(self, view=None):
        """{before, after}, each passed through ``view`` (e.g. to leave out fields the API assigns)."""
        view = view or (lambda data: data)
        return {"before": view(self.before) or {}, "after": view(self.after) or {}}
