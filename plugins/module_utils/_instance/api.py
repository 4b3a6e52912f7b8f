# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""The API calls on one instance: reads, look-ups, power actions and the in-place change rows.

Every module's read, power action and label change of one instance goes through an ``InstanceApi``
(cos_instance, cos_container, cos_instance_info, the group's rollout), which names the instance
the same way in every message (gcp_names.instance_phrase) and waits on every operation (through
GcpModule.mutate).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_names import (
    basename,
    instance_phrase,
    qualify,
    region_of,
    relative,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_operations import with_fresh_fingerprint
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_poll import Backoff, poll
from ansible_collections.gce.cos.plugins.module_utils._instance.options import DEFAULT_IMAGE_FAMILY, is_ipv4
from ansible_collections.gce.cos.plugins.module_utils._instance.summary import summarize


class InstanceApi:
    def __init__(self, gcp, name, zone):
        self.gcp = gcp
        self.name = name
        self.zone = zone
        self.what = instance_phrase(name, zone)
        self.short = "instance %r" % name

    @property
    def project(self):
        return self.gcp.api.project

    # reads ----------------------------------------------------------------------------------
    def read(self):
        """The instance in the API's JSON form, or None."""
        return self.gcp.api.get(
            "instances", doing="read " + self.what, project=self.project, zone=self.zone, instance=self.name
        )

    def must_read(self):
        inst = self.read()
        if inst is None:
            raise GcpError("read %s failed: the instance disappeared while the task ran; re-run the task" % self.what)
        return inst

    def elsewhere(self):
        """The zone of another instance of this name, if any (an instance cannot change zone)."""
        scopes = self.gcp.api.call(
            "instances", "aggregated_list", doing="look up instances named %r" % self.name,
            project=self.project,
            filter="name = %s" % self.name,
        )
        for _scope, scoped in sorted(scopes.items()):
            for inst in scoped.get("instances") or []:
                if inst.get("name") == self.name and basename(inst.get("zone", "")) != self.zone:
                    return basename(inst["zone"])
        return None

    def resolve_image(self, params):
        """(relative path, name) of the boot image: the image given, or the family's newest one now."""
        p = params
        if p["image"]:
            path = qualify(p["image"], p["image_project"], collection="global/images")
            return path, basename(path)
        family = p["image_family"] or DEFAULT_IMAGE_FAMILY
        what = "image family %r in project %s" % (family, p["image_project"])
        try:
            image = self.gcp.api.call(
                "images", "get_from_family", doing="look up " + what, project=p["image_project"], family=family
            )
        except GcpError as exc:
            if exc.status == 404:
                raise GcpError(
                    "look up %s failed: no such family, or all its images are deprecated: check image_family "
                    "(cos-stable, cos-beta, cos-dev, cos-NNN-lts) and image_project" % what
                )
            raise
        return relative(image["selfLink"]), image["name"]

    # external IP --------------------------------------------------------------------------------
    def static_address(self, value):
        """The reserved address named by ``value`` (its name or IPv4) in the zone's region, as a dict."""
        region = region_of(self.zone)
        if is_ipv4(value):
            what = "static address %s in region %s" % (value, region)
            found = self.gcp.api.list(
                "addresses", doing="look up " + what, project=self.project, region=region,
                filter='address = "%s"' % value
            )
            address = found[0] if found else None
        else:
            what = "static address %r in region %s" % (value, region)
            address = self.gcp.api.get("addresses", doing="look up " + what, project=self.project, region=region,
                                       address=value)
        if address is None:
            raise GcpError(
                "external_ip: there is no %s of project %s: reserve it first (gcloud compute addresses create "
                "--region %s), or use ephemeral" % (what, self.project, region)
            )
        if address.get("addressType", "EXTERNAL") != "EXTERNAL":
            raise GcpError("external_ip: %s is an internal address: use internal_ip for it" % what)
        users = address.get("users") or []
        me = "projects/%s/zones/%s/instances/%s" % (self.project, self.zone, self.name)
        if users and me not in [relative(u) for u in users]:
            raise GcpError(
                "external_ip: %s is in use by %s: release it there first, or choose another address"
                % (what, relative(users[0]))
            )
        return address

    def is_static(self, ip):
        """Whether ``ip`` is a reserved static address of the zone's region."""
        region = region_of(self.zone)
        return bool(
            self.gcp.api.list(
                "addresses", doing="look up static address %s in region %s" % (ip, region),
                project=self.project,
                region=region,
                filter='address = "%s"' % ip,
            )
        )

    # changes --------------------------------------------------------------------------------
    def call(self, method, verb, subject=None, **fields):
        """One mutating instances method on this instance, waited on.

        Errors name it as "VERB SUBJECT" (the subject is the instance unless given).
        """
        if "resource" not in fields:  # setDeletionProtection names the instance 'resource'
            fields.setdefault("instance", self.name)
        doing = "%s %s" % (verb, subject or self.what)
        return self.gcp.mutate("instances", method, doing=doing, zone=self.zone, **fields)

    def apply(self, row, params, actual, want):
        """Make the in-place change of ``row`` (a changes.InPlaceChange); rows with a fingerprint rebuild on 412."""
        if not row.fingerprinted:
            return self.call(row.method, row.verb, **row.request(params, want, actual))

        def write(inst):
            fresh = summarize(inst)
            wanted = row.wanted(params, fresh)
            if wanted == fresh[row.field]:
                return None  # a concurrent writer made the same change
            return self.call(row.method, row.verb, **row.request(params, wanted, inst))

        return with_fresh_fingerprint(actual, self.must_read, write)

    # power ----------------------------------------------------------------------------------
    def wait_stopped(self):
        """A STOPPING instance cannot be started or changed: wait (bounded) until it is TERMINATED."""
        return poll(
            self.must_read,
            lambda inst: inst.get("status") not in ("STOPPING", "SUSPENDING"),
            self.gcp.wait_timeout,
            lambda inst: "wait for %s to stop: still %s after %ds; raise wait_timeout, or re-run the task"
            % (self.what, inst.get("status"), self.gcp.wait_timeout),
            delay=Backoff(first=1.0, growth=1.0),
        )

    def stop(self):
        return self.call("stop_unary", "stop")

    def power(self, verb):
        """``start`` or ``stop``, waited on (no wait for a stopping instance first)."""
        return self.call(verb + "_unary", verb)

    def start(self, stopping=False):
        """Start the instance; ``stopping``: it was still stopping when read, so wait for that first."""
        if stopping:
            self.wait_stopped()
        return self.call("start_unary", "start")

    def delete(self):
        return self.call("delete_unary", "delete")
