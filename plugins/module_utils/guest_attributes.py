# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cos agent's reports (guest attributes ``cos-agent/NAME``) and waiting on them.

The agent publishes one JSON line per container, ``{"revision", "state", "image",
"digest", "error", "restarts", "time"}`` (with ``serving`` and ``log`` after a rollback), and ``cos-agent/agent``
after each apply
(docs/dev/internals.md). instances.getGuestAttributes has no long-poll, so waiting polls with
a growing, bounded delay (paced for the API's rate quota), and a shorter fixed one once a
container is "starting" at the wanted revision.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import instance_phrase
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_poll import Backoff, poll
from ansible_collections.gce.cos.plugins.module_utils._vm.vm_contract import (
    AGENT_REPORT_KEY,
    CRASH_LOOP_RESTARTS,
    GUEST_ATTRIBUTE_NAMESPACE,
)

# Poll delays. Each read is an instances.getGuestAttributes call, which counts against the
# project's Compute API rate quota (read requests), shared with every other task and tool of
# the project; the agent itself publishes at most 8 reports a minute (Compute Engine's
# guest-attribute budget is 10). So the wait starts at 1 s and grows to 5 s: about 12 reads a
# minute per VM once grown, 21 in the first minute. Rate-limit answers (429, 403
# rateLimitExceeded) are retried with backoff by gcp_retry.
FIRST_DELAY = 1.0
GROWTH = 1.5
MAX_DELAY = 5.0
# While a container is "starting" at its wanted revision (its unit runs and waits out the
# agent's COS_AGENT_MIN_UP_SECONDS, 3 s by default, or docker is starting it), "running" is
# at most those seconds away and the agent publishes it as soon as its budget allows: poll
# at this shorter, fixed delay for those few seconds.
NEAR_DELAY = 0.5

# Terminal states for a container's wanted revision.
RUNNING = "running"
FAILED = "failed"
STOPPED = "stopped"
# Not terminal: systemd restarts the unit after RestartSec.
RESTARTING = "restarting"
PULLING = "pulling"
STARTING = "starting"
# Not terminal: the start waits for gcr-online.target (an image from gcr.io or *.pkg.dev, and
# gcr.io does not answer from the VM); the report's error says so.
WAITING = "waiting"


def read_reports(api, zone, instance):
    """{key: parsed report} of the cos-agent namespace; {} when the agent reported nothing."""
    try:
        answer = api.call(
            "instances", "get_guest_attributes", doing="read guest attributes " + instance_phrase(instance, zone),
            project=api.project,
            zone=zone,
            instance=instance,
            query_path=GUEST_ATTRIBUTE_NAMESPACE + "/",
        )
    except GcpError as exc:
        # No attribute in the namespace yet is a 404, not an error.
        if exc.status == 404:
            return {}
        raise
    reports = {}
    for item in (answer.get("queryValue") or {}).get("items") or []:
        if item.get("namespace") != GUEST_ATTRIBUTE_NAMESPACE:
            continue
        try:
            value = json.loads(item.get("value") or "")
        except ValueError:
            value = None
        if not isinstance(value, dict):
            value = {"state": "unknown", "error": "unreadable report: %r" % (item.get("value") or "")[:200]}
        reports[item.get("key")] = value
    return reports


def outcome(report, target):
    """'done', 'failed' or None (keep waiting) for one container.

    ``target`` is {"revision": R, "accept_stopped": bool} for a container that must run
    revision R, or {"removed": True} for one that must go away.
    """
    if target.get("removed"):
        if report is None or report.get("state") == STOPPED:
            return "done"
        return None
    if report is None or report.get("revision") != target["revision"]:
        return None
    state = report.get("state")
    if state == RUNNING:
        return "done"
    if state == FAILED:
        return "failed"
    # A crash loop: systemd restarted it CRASH_LOOP_RESTARTS times at this revision (seen while
    # it waits to restart, or while it starts once more).
    if state == RESTARTING and restarts(report) >= CRASH_LOOP_RESTARTS:
        return "failed"
    if state in (PULLING, STARTING) and restarts(report) > CRASH_LOOP_RESTARTS:
        return "failed"
    if state == STOPPED and target.get("accept_stopped"):
        return "done"
    return None


def near_running(report, target):
    """True when the container is "starting" at the wanted revision: "running" is seconds away."""
    return bool(report) and not target.get("removed") and report.get("revision") == target.get("revision") \
        and report.get("state") == STARTING


def restarts(report):
    """How often systemd restarted the unit since the agent (re)started it; 0 if unknown."""
    value = (report or {}).get("restarts")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def wait_for_reports(read, targets, timeout, sleep=time.sleep, clock=time.monotonic):
    """Poll ``read()`` (-> reports) until every target is done; return the last reports.

    Raises AgentFailure at the first container that failed at its wanted revision (or kept
    restarting there, CRASH_LOOP_RESTARTS times), and GcpTimeoutError (listing what is still
    awaited, with the last error seen at the wanted revision) after ``timeout`` seconds.
    Reads come 1 s apart, growing to 5 s, and every 0.5 s while an awaited container is "starting".
    """
    last_errors = {}
    pending = []

    def done(reports):
        del pending[:]
        for name in sorted(targets):
            report = reports.get(name)
            target = targets[name]
            if report and report.get("error") and report.get("revision") == target.get("revision"):
                last_errors[name] = report["error"]
            result = outcome(report, target)
            if result == "failed":
                report = dict(report)
                report["error"] = report.get("error") or last_errors.get(name, "")
                raise AgentFailure(name, report)
            if result is None:
                pending.append(name)
        return not pending

    def starting(reports):
        return any(near_running(reports.get(name), targets[name]) for name in pending)

    return poll(read, done, timeout, lambda reports: timeout_message(pending, targets, reports, timeout, last_errors),
                delay=Backoff(FIRST_DELAY, GROWTH, MAX_DELAY, near=starting, near_delay=NEAR_DELAY),
                sleep=sleep, clock=clock)


def rollback_details(report):
    """What a report of a rolled-back update adds to a failure message: the new revision's last log lines (the
    serving revision is in its error text already); '' for other reports."""
    if not (report or {}).get("serving"):
        return ""
    lines = (report.get("log") or "").strip()
    return "; the last lines of its log:\n%s" % lines if lines else "; its log is empty"


class AgentFailure(Exception):
    def __init__(self, name, report):
        self.name = name
        self.report = report or {}
        Exception.__init__(self, self.report.get("error") or "no error text")


def describe_pending(pending, targets, reports, last_errors=None):
    """What each awaited container reports, then what the agent itself last said (one text)."""
    last_errors = last_errors or {}
    parts = []
    for name in pending:
        report = reports.get(name)
        target = targets[name]
        if target.get("removed"):
            parts.append("%s: still reported %s (waiting for its removal)" % (name, (report or {}).get("state")))
        elif report is None:
            parts.append("%s: no report yet (want revision %s)" % (name, target["revision"]))
        else:
            part = "%s: revision %s is %s (want revision %s running)" % (
                name,
                report.get("revision"),
                report.get("state"),
                target["revision"],
            )
            if restarts(report) and report.get("revision") == target["revision"]:
                part += ", restarted %d times" % restarts(report)
            if last_errors.get(name):
                part += ", last error: %s" % last_errors[name]
            parts.append(part)
    agent = reports.get(AGENT_REPORT_KEY)
    if agent is None:
        hint = (
            "the cos agent has never reported on this VM: is it installed and running? VMs without the agent "
            "need apply: restart, and konlet VMs migrate: true"
        )
    else:
        hint = "the agent (version %s) last reported at %s%s" % (
            agent.get("version", "?"),
            agent.get("time", "?"),
            ", with error: %s" % agent["error"] if agent.get("error") else "",
        )
    return "%s; %s" % ("; ".join(parts), hint)


def timeout_message(pending, targets, reports, timeout, last_errors=None):
    return "timed out after %ds waiting for the cos agent: %s. Raise wait_timeout, or set wait: false" % (
        int(timeout),
        describe_pending(pending, targets, reports, last_errors),
    )


def wait_targets(entries):
    """{name: target} of ``outcome`` for the ``containers`` result of cos_container: those to run, those to go."""
    targets = {}
    for entry in entries or []:
        if entry.get("revision"):
            policy = (entry.get("spec") or {}).get("restart_policy") or "always"
            targets[entry["name"]] = {"revision": entry["revision"], "accept_stopped": policy != "always"}
        elif entry.get("action") == "remove":
            targets[entry["name"]] = {"removed": True}
    return targets


def with_reports(entries, reports):
    """cos_container's result entries with what the agent reports added (state, image, digest, restarts)."""
    out = []
    for entry in entries or []:
        entry = dict(entry)
        report = reports.get(entry.get("name"))
        if entry.get("revision") and report:
            entry.update(state=report.get("state"), digest=report.get("digest") or "", image=report.get("image") or "",
                         restarts=restarts(report))
            if report.get("error") and report.get("revision") == entry["revision"]:
                entry["error"] = report["error"]
        elif entry.get("action") == "remove" and report is None:
            entry["state"] = "removed"
        out.append(entry)
    return out


def compare(reports, targets, what):
    """One look at the agent's ``reports`` against ``targets`` (no waiting), for a poll made elsewhere.

    Returns {"settled", "done", "failed", "pending", "containers", "message"}: ``done`` when every
    target is reached, ``failed`` the first container that failed at its wanted revision (or keeps
    restarting there), ``message`` what a caller reports when it stops waiting now (the failure, or
    what is still awaited). ``what`` names the VM, e.g. "instance 'web-1' in us-central1-a".
    """
    pending, failed, containers = [], None, []
    for name in sorted(targets):
        report = reports.get(name)
        target = targets[name]
        result = outcome(report, target)
        entry = {"name": name, "outcome": result or "pending"}
        if target.get("removed"):
            entry["state"] = "removed" if result == "done" else (report or {}).get("state")
        else:
            entry["want_revision"] = target["revision"]
            for key in ("state", "revision", "image", "digest", "error"):
                entry[key] = (report or {}).get(key)
            for key in ("serving", "log"):
                if (report or {}).get(key) and (report or {}).get("revision") == target["revision"]:
                    entry[key] = report[key]
            entry["restarts"] = restarts(report)
        containers.append(entry)
        if result == "failed" and failed is None:
            failed = entry
        elif result is None:
            pending.append(name)
    if failed is not None:
        how = "failed"
        if failed["state"] != FAILED:
            how = "keeps failing (systemd restarted it %d times)" % failed["restarts"]
        message = "container %s on %s %s at revision %s, as the cos agent reports: %s" % (
            failed["name"], what, how, failed["want_revision"], failed["error"] or "(no error text)")
        message += rollback_details(failed)
    elif pending:
        last_errors = {n: reports[n]["error"] for n in pending if (reports.get(n) or {}).get("error")
                       and reports[n].get("revision") == targets[n].get("revision")}
        described = describe_pending(pending, targets, reports, last_errors)
        message = "waiting for the cos agent on %s: %s" % (what, described)
    else:
        message = "the cos agent on %s reports every container as wanted" % what
    return {
        "settled": failed is not None or not pending,
        "done": failed is None and not pending,
        "failed": failed["name"] if failed else None,
        "pending": pending,
        "containers": containers,
        "message": message,
    }
