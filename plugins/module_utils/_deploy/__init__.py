# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This package is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The planners of the cos_deploy and cos_deploy_group roles, behind their filters (plugins/filter).

``vm.plan`` checks the inputs of cos_deploy and derives what its templates and tasks need;
``group.plan`` does the same for cos_deploy_group, on top of ``vm.plan``; ``checks`` holds what both
share (error wording, unknown variables, a module task's options checked by the module's validator).
Nothing here calls the API: a role runs them before its first task that does.
"""
