# -*- coding: utf-8 -*-
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Controller-side glue of the roles' planner filters: the planners live in module_utils/_deploy, and each filter
is this wrapper around one of them, as each module is docs plus a short main."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.errors import AnsibleFilterError
from ansible_collections.gce.cos.plugins.module_utils.plain_data import plain


def planner_filter(name, plan):
    """The filter NAME: PLAN of a mapping of the role's inputs, given as plain data (Ansible's tagged and lazy
    values are resolved once, at the entry); anything else is an AnsibleFilterError naming the filter."""

    @functools.wraps(plan)
    def planner(inputs):
        if not isinstance(inputs, dict):
            raise AnsibleFilterError("%s: expects a mapping of the role's inputs, got %s"
                                     % (name, type(inputs).__name__))
        return plan(plain(inputs))

    planner.__name__ = name
    return planner
