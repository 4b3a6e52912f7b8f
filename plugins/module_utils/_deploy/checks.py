# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""What the role planners share: error wording, unknown variables, module options checked by their modules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_params import InvalidParams, params_with_defaults

FIELD_MESSAGE_RE = re.compile(r"^[A-Za-z0-9_.\[\]-]+: ")


def err(errors, path, value, problem, fix, hide=False):
    """Append "PATH: VALUE PROBLEM. Fix: FIX"; ``hide`` for a value that may be a secret."""
    shown = "(value hidden: it may be a secret)" if hide else container_spec.show(value)
    errors.append("%s: %s %s. Fix: %s" % (path, shown, problem, fix))


def given(args, empty=({},)):
    """The options that are set: None and the ``empty`` values are left out, as a task's omit would."""
    return {k: v for k, v in args.items() if v is not None and not any(v == e for e in empty)}


def unknown_variables(names, known, errors, prefix):
    """A misspelt top-level variable would be ignored and deploy less than asked: refuse it."""
    known = set(known or ())
    for name in sorted(set(names or ()) - known):
        # Compared without the shared prefix, which would make every name look close.
        tails = {k[len(prefix):]: k for k in known if k.startswith(prefix)}
        close = [tails[t] for t in difflib.get_close_matches(name[len(prefix):], sorted(tails), n=1)]
        errors.append("%s: is not a variable of the gce.cos.%s role, so it would be ignored. Fix: %s"
                      % (name, prefix.rstrip("_"), "rename it to %s" % close[0] if close else
                         "remove it, or use one of %s" % ", ".join(sorted(known))))


def module_errors(options, validate, args, where, errors):
    """Check a module task's options with the module's own spec and validator, before any API call.

    ``where`` maps the module's field names to the role's variables (first match wins; the
    last entry, for the field "", names the variable itself): the errors are the module's own,
    named by the role variable they come from.
    """
    try:
        validate(params_with_defaults(options.ARGUMENT_SPEC, args, **options.ARGUMENT_RULES))
    except InvalidParams as exc:
        for message in exc.errors:
            if not FIELD_MESSAGE_RE.match(message):  # Ansible's own wording ("missing required arguments: x")
                errors.append("%s: %s" % (where[-1][1].rstrip("."), message))
                continue
            field, variable = next((f, v) for f, v in where if message.startswith(f))
            errors.append(variable + message[len(field):])
