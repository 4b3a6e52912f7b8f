# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The in-place changes of an instance as table rows: option, summary field, API method, request.

Each row says which option it serves, which field of the instance summary it sets, which
``instances`` method makes the change and how its request is built; the engine compares the
field, adds one plan step per row that differs and runs them all the same way. Rows marked
``fingerprinted`` send the instance's fingerprint: on 412 the instance is read again and the
wanted value and the request are rebuilt from the fresh read. Rows marked ``needs_stop`` run
only on a stopped VM (see allow_stopping_for_update).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.gce.cos.plugins.module_utils._instance.body import (
    desired_labels,
    wanted_scheduling,
    wanted_scopes,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.options import (
    DEFAULT_VM_SCOPES,
    PUBLIC_METADATA,
    SHIELDED_OPTIONS,
    machine_type_name,
)
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import summarize


class InPlaceChange:
    def __init__(self, option, field, method, verb, wanted, request, describe, fingerprinted=False,
                 needs_stop=False):
        self.option = option  # the option named in errors (a function of (have, want) when it varies)
        self.field = field  # the field of the instance summary the change sets
        self.method = method  # the instances method (unary form)
        self.verb = verb  # what the API call does, in error messages ("set labels of")
        self.wanted = wanted  # (params, summary) -> the wanted value of the field
        self.request = request  # (params, want, instance) -> the request fields besides project and zone
        self.describe = describe  # (short, have, want) -> the plan step's description
        self.fingerprinted = fingerprinted
        self.needs_stop = needs_stop

    def option_for(self, have, want):
        return self.option(have, want) if callable(self.option) else self.option


def describe_changes(before, after, secret=False):
    """'add a, b; change c; remove d' (with values for labels, key names only for metadata)."""
    added = sorted(k for k in after if k not in before)
    changed = sorted(k for k in after if k in before and before[k] != after[k])
    removed = sorted(k for k in before if k not in after)
    parts = []
    for verb, keys in (("add", added), ("change", changed)):
        if keys:
            if secret:
                shown = [k if k not in PUBLIC_METADATA else "%s=%s" % (k, after[k]) for k in keys]
            else:
                shown = ["%s=%s" % (k, after[k]) for k in keys]
            parts.append("%s %s" % (verb, ", ".join(shown)))
    if removed:
        parts.append("remove %s" % ", ".join(removed))
    return "; ".join(parts)


def scheduling_request(_params, want, inst):
    """setScheduling: the instance's scheduling (other fields kept) with ``want`` applied."""
    body = dict(inst.get("scheduling") or {})
    body.update(
        preemptible=want["preemptible"],
        provisioningModel=want["provisioning_model"],
        onHostMaintenance=want["on_host_maintenance"],
        automaticRestart=want["automatic_restart"],
    )
    if want["provisioning_model"] != "SPOT":
        body.pop("instanceTerminationAction", None)  # a Spot-only setting
    return {"scheduling_resource": body}


def _given(option):
    """wanted() of a plain option: its value when given, else the instance's."""
    return lambda params, have: have[option] if params[option] is None else params[option]


def _description_request(_params, want, inst):
    # instances.update is a PUT of the whole instance with its fingerprint; REFRESH: no restart.
    return {"instance_resource": dict(copy.deepcopy(inst), description=want),
            "most_disruptive_allowed_action": "REFRESH"}


def _running_scheduling(params, have):
    want = wanted_scheduling(params, have["scheduling"])
    return want if want["provisioning_model"] == have["scheduling"]["provisioning_model"] else have["scheduling"]


def _model_scheduling(params, have):
    want = wanted_scheduling(params, have["scheduling"])
    return want if want["provisioning_model"] != have["scheduling"]["provisioning_model"] else have["scheduling"]


def _describe_scheduling(short, have, want):
    return "set scheduling of %s: %s" % (short, describe_changes(have, want))


def _tags(params, have):
    return have["network_tags"] if params["network_tags"] is None else sorted(set(params["network_tags"]))


def _machine_type(params, have):
    return machine_type_name(params["machine_type"], params["zone"]) if params["machine_type"] else have["machine_type"]


def _service_account(params, have):
    """{email, scopes} wanted (None for no account); the scopes are kept when only the email is given."""
    sa = params["service_account"] or {}
    current = have["service_account"]
    if sa.get("email") is None and sa.get("scopes") is None:
        return current
    email = sa.get("email")
    if email == "none":
        return None
    scopes = wanted_scopes(params)
    cur_email = current["email"] if current else None
    want_email = cur_email if email is None else email
    if email == "default" and cur_email and cur_email.endswith("-compute@developer.gserviceaccount.com"):
        want_email = cur_email
    want_scopes = (current["scopes"] if current else []) if scopes is None else scopes
    if cur_email is None and scopes is None:
        want_scopes = DEFAULT_VM_SCOPES
    return {"email": want_email or "default", "scopes": want_scopes}


def _service_account_option(have, want):
    """The option a service account change comes from: its email, its scopes, or both."""
    have, want = have or {}, want or {}
    fields = [f for f in ("email", "scopes") if have.get(f) != want.get(f)]
    return ", ".join("service_account.%s" % f for f in fields) or "service_account"


def _shielded(params, have):
    given = params["shielded_vm"] or {}
    return dict(have["shielded_vm"], **{opt: given[opt] for opt, _a in SHIELDED_OPTIONS if given.get(opt) is not None})


def _shielded_changed(have, want):
    return [opt for opt, _api in SHIELDED_OPTIONS if want[opt] != have[opt]]


DESCRIPTION = InPlaceChange(
    "description", "description", "update_unary", "set description", _given("description"), _description_request,
    lambda short, have, want: "set description of %s to %r" % (short, want), fingerprinted=True)
SCHEDULING = InPlaceChange(
    "scheduling", "scheduling", "set_scheduling_unary", "set scheduling", _running_scheduling, scheduling_request,
    _describe_scheduling)
LABELS = InPlaceChange(
    "labels", "labels", "set_labels_unary", "set labels",
    lambda params, have: desired_labels(params, have["labels"]),
    lambda params, want, inst: {"instances_set_labels_request_resource": {
        "labelFingerprint": inst.get("labelFingerprint"), "labels": want}},
    lambda short, have, want: "set labels of %s: %s" % (short, describe_changes(have, want)), fingerprinted=True)
NETWORK_TAGS = InPlaceChange(
    "network_tags", "network_tags", "set_tags_unary", "set network tags", _tags,
    lambda params, want, inst: {"tags_resource": {
        "fingerprint": (inst.get("tags") or {}).get("fingerprint"), "items": want}},
    lambda short, have, want: "set network tags of %s to [%s]" % (short, ", ".join(want)), fingerprinted=True)
DELETION_PROTECTION = InPlaceChange(
    "deletion_protection", "deletion_protection", "set_deletion_protection_unary", "set deletion protection",
    _given("deletion_protection"),
    lambda params, want, inst: {"resource": params["name"], "deletion_protection": want},
    lambda short, have, want: "%s deletion protection of %s" % ("enable" if want else "disable", short))

# The changes that need a stopped VM, in the order they are made.
STOPPED_CHANGES = (
    InPlaceChange(
        "machine_type", "machine_type", "set_machine_type_unary", "set machine type", _machine_type,
        lambda params, want, inst: {"instances_set_machine_type_request_resource": {
            "machineType": "zones/%s/machineTypes/%s" % (params["zone"], want)}},
        lambda short, have, want: "set machine type of %s from %s to %s" % (short, have, want), needs_stop=True),
    InPlaceChange(
        _service_account_option, "service_account",
        "set_service_account_unary", "set service account", _service_account,
        lambda params, want, inst: {"instances_set_service_account_request_resource": want or {}},
        lambda short, have, want: "set service account of %s to %s with %d scope(s)"
        % (short, want["email"] if want else "none", len(want["scopes"]) if want else 0), needs_stop=True),
    InPlaceChange(
        "scheduling.provisioning_model", "scheduling", "set_scheduling_unary", "set scheduling", _model_scheduling,
        scheduling_request, _describe_scheduling, needs_stop=True),
    InPlaceChange(
        lambda have, want: ", ".join("shielded_vm.%s" % opt for opt in _shielded_changed(have, want)),
        "shielded_vm", "update_shielded_instance_config_unary", "update shielded VM settings", _shielded,
        lambda params, want, inst: {"shielded_instance_config_resource": {
            api: want[opt] for opt, api in SHIELDED_OPTIONS if opt in _shielded_changed(
                summarize(inst)["shielded_vm"], want)}},
        lambda short, have, want: "update shielded VM settings of %s: %s" % (short, ", ".join(
            "%s=%s" % (opt, str(want[opt]).lower()) for opt in _shielded_changed(have, want))), needs_stop=True),
)
