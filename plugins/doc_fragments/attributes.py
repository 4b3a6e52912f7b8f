# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The write modules of gce.cos: every change is planned first, so check and diff mode are complete.
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description:
      - Check mode reads the resource and reports the same plan as a real run (C(changed), C(actions) and the
        diff) without sending any change.
  diff_mode:
    support: full
    description:
      - The diff is the plan's before and after, in the form of the resource the module returns (never a
        metadata value or a secret).
"""

    # The read-only modules of gce.cos.
    INFO = r"""
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode runs it as it is.
  diff_mode:
    support: none
    description: The module never changes anything.
"""
