#!/usr/bin/python
# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cos_container
short_description: Run containers on a Container-Optimized OS VM, through the cos agent
version_added: 0.1.0
description:
  - Deploys, updates and removes containers on an existing Compute Engine VM that runs Container-Optimized OS.
    It replaces the deprecated konlet (C(gce-container-declaration)) and runs any number of containers per VM.
  - Each container is described by a container spec (see the C(docs/container-spec.md) page of the collection).
    The spec is validated, rendered as a systemd unit that runs C(docker run --rm --name NAME --network host ...),
    and stored in the instance metadata key C(cos-container-NAME) with a fingerprinted C(setMetadata). Other
    metadata keys are left untouched; a concurrent change between the read and the write is retried once on a
    fresh read.
  - The cos agent on the VM (installed by cloud-init) watches these keys and starts, restarts or stops exactly the
    containers whose spec changed, without restarting the VM. It reports each container's revision, state and
    image digest as guest attributes, which this module reads to wait for the rollout.
  - Idempotent by revision (the first 16 hex digits of the SHA-256 of the unit). When every container already has
    its revision, nothing is written and the task reports no change.
  - The module also sets the metadata C(enable-guest-attributes=TRUE), which the agent's reports need, in the same
    write.
  - An instance that still has C(gce-container-declaration) is refused unless O(migrate=true), because konlet and
    the agent would both run containers on it.
options:
  instance:
    description:
      - The name of the instance that runs the containers. It must exist (see M(gce.cos.cos_instance)).
    type: str
    required: true
  zone:
    description:
      - The zone of the instance, for example C(us-central1-a).
    type: str
    required: true
  state:
    description:
      - V(present) deploys the container (or the containers of O(containers)), creating or updating its metadata key.
      - V(absent) removes it; the agent stops the container and deletes its unit. With O(containers), the entries
        need only C(name).
    type: str
    choices: [present, absent]
    default: present
  containers:
    description:
      - The list form, for several containers in one write. Each entry is a container spec with the same fields as
        the single-container options (O(name), O(image), O(command), ... O(docker_args)).
      - Errors name the entry, for example C(containers[1].volumes[0].host_path).
      - Mutually exclusive with O(name) and the other spec options.
    type: list
    elements: dict
  exclusive:
    description:
      - With O(state=present), remove every other C(cos-container-*) key of the instance, so that the containers
        given (O(name) or O(containers)) are exactly the set that runs. With V(false) other containers are kept.
      - O(containers=[]) with O(exclusive=true) removes all containers.
    type: bool
    default: false
  wait:
    description:
      - Wait until the cos agent reports every container of the task running at its new revision (and removed
        containers gone), up to O(wait_timeout) seconds; then return each container's state and running image
        digest.
      - When the agent reports the new revision C(failed), the task fails with the agent's error.
      - A container that systemd restarts after a failure (its restart policy) is reported C(restarting), and the
        wait goes on, so that a transient failure (a registry hiccup during the pull) does not fail the rollout.
        Once systemd restarted it 3 times at the new revision, the task fails with the agent's last error; when
        O(wait_timeout) passes first, the timeout message carries that error.
      - Not used with O(apply=restart), since no agent reports there; the task then waits for the VM to start.
    type: bool
    default: true
  apply:
    description:
      - V(agent) writes the specs to metadata, where the cos agent picks them up within seconds; the VM keeps
        running and only changed containers restart.
      - V(restart) is for VMs without the agent. The units also go into the VM's cloud-init C(user-data) (which
        must be a C(#cloud-config) document), and the VM is B(stopped and started) when they changed, the way
        C(gcloud compute instances update-container) did. B(This means downtime for everything on the VM.) A VM that
        is not running is not started; its containers start when it does.
    type: str
    choices: [agent, restart]
    default: agent
  migrate:
    description:
      - Move an instance off konlet. When the instance has C(gce-container-declaration), the declaration is converted
        to a container spec with konlet's semantics (entrypoint and cmd, env, restart policy, host network, json-file
        log limits, volumes, persistent disks by device name); the spec is written as C(cos-container-NAME), the
        declaration key is removed, and the VM's user-data gets the cos agent if it lacks it.
      - When the user-data had to change, the VM is stopped and started once (konlet's container goes with the old
        boot). The user-data must be empty or a C(#cloud-config) document.
      - A declaration that konlet itself would reject is refused with konlet's reason. RV(notes) lists what differs
        from konlet (for example, declared ports replace konlet's fully open firewall).
      - Only O(name) may be given with it, to run the container under another name. Without a declaration the task
        does nothing.
    type: bool
    default: false
  name:
    description:
      - The container's name (RFC1035 label). It names the container, its unit C(cos-container-NAME.service) and its
        metadata key C(cos-container-NAME).
    type: str
  image:
    description:
      - The image, C(REPOSITORY[:TAG][@sha256:DIGEST]). A tag is pulled at every start; a digest only when missing.
      - Required with O(name) and O(state=present).
    type: str
  command:
    description:
      - Replaces the image's entrypoint (konlet's C(command)).
    type: list
    elements: str
  args:
    description:
      - Replaces the image's cmd.
    type: list
    elements: str
  env:
    description:
      - Plain environment variables, C(NAME=value). Stored in clear in the instance metadata; use O(secret_env) for
        secrets.
    type: dict
  secret_env:
    description:
      - Environment variables resolved on the VM from Secret Manager, C(NAME=projects/P/secrets/S/versions/V) (or
        C(.../versions/latest), or C(sm://P/S[#V])). Values never reach the metadata, the unit or the task result.
      - The VM's service account needs C(roles/secretmanager.secretAccessor) on the secrets.
    type: dict
  volumes:
    description:
      - Volumes, each with a C(container_path) and one source.
    type: list
    elements: dict
    suboptions:
      type:
        description:
          - The kind of volume; inferred from O(volumes[].host_path) or O(volumes[].device_name) when not set.
        type: str
        choices: [host_path, tmpfs, disk]
      container_path:
        description:
          - Where the volume appears in the container (absolute, not C(/)).
        type: str
        required: true
      host_path:
        description:
          - A host directory below C(/var), C(/home) or C(/mnt/disks) (C(/) is read-only on COS and C(/etc) is wiped
            at boot).
        type: str
      device_name:
        description:
          - A persistent disk, by the device name it is attached with. It is mounted at C(/mnt/disks/DEVICE) by the
            VM's disk units, and the container's unit requires that mount.
        type: str
      partition:
        description:
          - The partition of the disk to use.
        type: int
      sub_path:
        description:
          - A relative directory inside the disk to mount instead of its root.
        type: str
      size:
        description:
          - The size limit of a tmpfs volume, in docker's syntax (C(64m)).
        type: str
      read_only:
        description:
          - Mount read-only (host paths and disks). Default V(false).
        type: bool
  ports:
    description:
      - Ports to open on the host firewall (COS drops inbound traffic except SSH), as C(N), C(N/tcp) or C(N/udp).
        Containers use the host network, so there is no port mapping.
    type: list
    elements: raw
  restart_policy:
    description:
      - When the container is restarted by systemd. Default V(always).
    type: str
    choices: [always, on-failure, never]
  max_retries:
    description:
      - With O(restart_policy=on-failure), the number of restarts after the first start.
    type: int
  privileged:
    description:
      - Run with full host access. Default V(false).
    type: bool
  stdin:
    description:
      - Keep stdin open with nothing attached (as konlet did). Default V(false).
    type: bool
  tty:
    description:
      - Allocate a pseudo-TTY. Default V(false).
    type: bool
  user:
    description:
      - The user, C(UID[:GID]) or a name.
    type: str
  workdir:
    description:
      - The working directory (absolute).
    type: str
  cap_add:
    description:
      - Capabilities to add, with or without C(CAP_).
    type: list
    elements: str
  cap_drop:
    description:
      - Capabilities to drop, or C(ALL).
    type: list
    elements: str
  read_only:
    description:
      - Make the container's root filesystem read-only. Default V(false).
    type: bool
  apparmor_profile:
    description:
      - The AppArmor profile.
    type: str
  security_opt:
    description:
      - Other docker security options.
    type: list
    elements: str
  memory:
    description:
      - Memory limit in docker's syntax (C(512m), C(2g)); at least C(6m).
    type: str
  cpus:
    description:
      - CPU limit, for example V(0.5) or V(2).
    type: float
  healthcheck:
    description:
      - A docker health check.
    type: dict
    suboptions:
      command:
        description:
          - The check, a string run by C(/bin/sh -c) or a list of words (shell-quoted).
        type: raw
        required: true
      interval:
        description:
          - Time between checks, seconds or a Go duration (C(30s)). Default C(30s).
        type: raw
      timeout:
        description:
          - Time a check may take. Default C(30s).
        type: raw
      retries:
        description:
          - Failures in a row that make the container unhealthy. Default V(3).
        type: int
      start_period:
        description:
          - Grace time after start. Default C(0s).
        type: raw
  log_driver:
    description:
      - V(json-file) (default) keeps logs on the VM, and the COS logging agent ships them to Cloud Logging when the
        instance has C(google-logging-enabled=true).
      - V(gcplogs) ships directly, but the container fails to start unless the VM's service account has
        C(roles/logging.logWriter) (the module warns).
    type: str
    choices: [json-file, gcplogs]
  log_opts:
    description:
      - Log driver options, merged over the json-file defaults C(max-size=500m) and C(max-file=3).
    type: dict
  labels:
    description:
      - Container labels.
    type: dict
  stop_timeout:
    description:
      - Seconds between SIGTERM and SIGKILL when the container stops. Default V(10).
    type: int
  docker_args:
    description:
      - Extra C(docker run) arguments, an escape hatch. Options the unit sets itself (C(--rm), C(--name),
        C(--network), C(--restart), C(--env-file), C(-d)) are refused.
    type: list
    elements: str
extends_documentation_fragment:
  - gce.cos.gcp
  - gce.cos.gcp.wait
attributes:
  check_mode:
    support: full
    description: Check mode reads the instance and returns the same plan, units, revisions and diff, without writing.
  diff_mode:
    support: full
    description: The diff shows the container specs before and after (not the raw units).
notes:
  - Every spec is validated before the first API call; all problems are reported at once, each with its field path.
  - Metadata limits are checked before writing. A value (one unit) may hold 256 KB, and an instance 512 KB in total.
  - O(wait_timeout) bounds each Compute Engine operation and, separately, the wait for the agent's reports.
  - The containers, their units and the agent are described in the C(docs/cos_container.md) page of the collection,
    including how to move off C(gce-container-declaration).
seealso:
  - module: gce.cos.cos_instance
  - name: Container-Optimized OS
    description: Google's documentation of COS.
    link: https://cloud.google.com/container-optimized-os/docs
author:
  - gce.cos maintainers (@gce-cos)
"""

EXAMPLES = r"""
- name: Run one container and wait until the agent reports it running
  gce.cos.cos_container:
    instance: web-1
    zone: us-central1-a
    name: web
    image: nginx:1.27
    ports: [80]
    env:
      NGINX_PORT: "80"
    volumes:
      - host_path: /var/lib/web/html
        container_path: /usr/share/nginx/html
        read_only: true
    memory: 256m
  register: web

- name: Show the image digest that runs
  ansible.builtin.debug:
    msg: "{{ web.container.name }} runs {{ web.container.digest }}"

- name: Make these two containers the exact set on the VM (others are removed)
  gce.cos.cos_container:
    instance: web-1
    zone: us-central1-a
    exclusive: true
    containers:
      - name: web
        image: nginx:1.27
        ports: [80]
      - name: api
        image: us-docker.pkg.dev/my-project/apps/api:2.4.1
        args: [serve, --port, "8080"]
        secret_env:
          DB_PASSWORD: projects/my-project/secrets/db-password/versions/latest
        restart_policy: on-failure
        max_retries: 5
        ports: [8080]

- name: Remove one container
  gce.cos.cos_container:
    instance: web-1
    zone: us-central1-a
    name: api
    state: absent

- name: Deploy on a VM without the agent (stops and starts the VM)
  gce.cos.cos_container:
    instance: legacy-1
    zone: us-central1-a
    name: web
    image: nginx:1.27
    apply: restart

- name: Move a konlet VM (gce-container-declaration) to the cos agent
  gce.cos.cos_container:
    instance: konlet-1
    zone: us-central1-a
    migrate: true
  register: moved

- name: What differs from konlet
  ansible.builtin.debug:
    var: moved.notes
"""

RETURN = r"""
containers:
  description:
    - One entry per container the task names (deployed or removed), in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The container's name.
      type: str
      sample: web
    action:
      description: What the task does to it, V(create), V(update), V(none) or V(remove).
      type: str
      sample: update
    metadata_key:
      description: The instance metadata key of the container.
      type: str
      sample: cos-container-web
    unit_name:
      description: The systemd unit the agent installs.
      type: str
      sample: cos-container-web.service
    revision:
      description: The revision of the unit (16 hex digits of its SHA-256); absent for removed containers.
      type: str
      sample: 3f2a9c0d1b7e4a55
    previous_revision:
      description: The revision found on the instance before the task, if any.
      type: str
      sample: 0c1d2e3f4a5b6c7d
    unit:
      description: The rendered unit text (it holds Secret Manager references, never secret values).
      type: str
    docker_args:
      description: The C(docker run) argv of the unit.
      type: list
      elements: str
      sample: [docker, run, --rm, --name, web, --network, host, nginx:1.27]
    spec:
      description: The normalised container spec.
      type: dict
    state:
      description:
        - The state the agent reports, only after waiting. V(running), or V(stopped) for a container whose
          restart policy lets it exit; V(removed) for a removed container.
        - In the result of a failed task, V(failed) (systemd gave up on the unit, or it exited with
          O(restart_policy=never)) or V(restarting) (systemd keeps restarting it after failures).
      type: str
      sample: running
    error:
      description: The agent's error for the container; only when the task failed on it.
      type: str
      sample: "unit cos-container-web.service failed: result exit-code, exit status 125: docker: ..."
    restarts:
      description: How often systemd restarted the unit after failures since the agent started this revision;
        only after waiting.
      type: int
      sample: 0
    digest:
      description: The image digest that runs, as the agent reports it; only after waiting.
      type: str
      sample: sha256:4c0fdaa8b6341bfdeca5f18f7837462c80cff90527ee35ef185571e1c327beac
    image:
      description: The image the agent runs; only after waiting.
      type: str
      sample: nginx:1.27
container:
  description: The entry of RV(containers) for the container named by O(name).
  returned: when O(name) is set, or a declaration was migrated
  type: dict
actions:
  description: The steps the task takes (or would take in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["set metadata of instance 'web-1' in us-central1-a: add cos-container-web, add enable-guest-attributes"]
diff:
  description: The container specs on the instance before and after, by name.
  returned: always
  type: dict
  sample: {before: {containers: {}}, after: {containers: {web: {name: web, image: "nginx:1.27"}}}}
restarted:
  description: Whether the VM was (or in check mode would be) stopped and started.
  returned: always
  type: bool
notes:
  description: What the konlet migration changes, to review (empty when nothing was migrated).
  returned: always
  type: list
  elements: str
"""

import copy

from ansible_collections.gce.cos.plugins.module_utils import cloud_config, container_spec, container_unit, konlet
from ansible_collections.gce.cos.plugins.module_utils.gcp_errors import GcpError
from ansible_collections.gce.cos.plugins.module_utils.gcp_metadata import (
    describe_changes,
    metadata_dict,
    set_metadata,
    size_errors,
    value_error,
)
from ansible_collections.gce.cos.plugins.module_utils.gcp_module import GcpModule
from ansible_collections.gce.cos.plugins.module_utils.gcp_names import name_error, zone_error
from ansible_collections.gce.cos.plugins.module_utils.gcp_plan import Plan
from ansible_collections.gce.cos.plugins.module_utils.guest_attributes import (
    FAILED,
    AgentFailure,
    read_reports,
    restarts,
    wait_for_reports,
)

PREFIX = container_unit.METADATA_PREFIX
KONLET_KEY = konlet.METADATA_KEY
GUEST_ATTRIBUTES_KEY = "enable-guest-attributes"
USER_DATA_KEY = "user-data"

SPEC_OPTIONS = {
    "image": dict(type="str"),
    "command": dict(type="list", elements="str"),
    "args": dict(type="list", elements="str"),
    "env": dict(type="dict"),
    # References to Secret Manager, not secret values.
    "secret_env": dict(type="dict", no_log=False),
    "volumes": dict(
        type="list",
        elements="dict",
        options=dict(
            type=dict(type="str", choices=["host_path", "tmpfs", "disk"]),
            container_path=dict(type="str", required=True),
            host_path=dict(type="str"),
            device_name=dict(type="str"),
            partition=dict(type="int"),
            sub_path=dict(type="str"),
            size=dict(type="str"),
            read_only=dict(type="bool"),
        ),
    ),
    "ports": dict(type="list", elements="raw"),
    "restart_policy": dict(type="str", choices=["always", "on-failure", "never"]),
    "max_retries": dict(type="int"),
    "privileged": dict(type="bool"),
    "stdin": dict(type="bool"),
    "tty": dict(type="bool"),
    "user": dict(type="str"),
    "workdir": dict(type="str"),
    "cap_add": dict(type="list", elements="str"),
    "cap_drop": dict(type="list", elements="str"),
    "read_only": dict(type="bool"),
    "apparmor_profile": dict(type="str"),
    "security_opt": dict(type="list", elements="str"),
    "memory": dict(type="str"),
    "cpus": dict(type="float"),
    "healthcheck": dict(
        type="dict",
        options=dict(
            command=dict(type="raw", required=True),
            interval=dict(type="raw"),
            timeout=dict(type="raw"),
            retries=dict(type="int"),
            start_period=dict(type="raw"),
        ),
    ),
    "log_driver": dict(type="str", choices=["json-file", "gcplogs"]),
    "log_opts": dict(type="dict"),
    "labels": dict(type="dict"),
    "stop_timeout": dict(type="int"),
    "docker_args": dict(type="list", elements="str"),
}

ARGUMENT_SPEC = dict(
    instance=dict(type="str", required=True),
    zone=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    containers=dict(type="list", elements="dict"),
    exclusive=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
    apply=dict(type="str", default="agent", choices=["agent", "restart"]),
    migrate=dict(type="bool", default=False),
    name=dict(type="str"),
    **SPEC_OPTIONS
)


def _strip_none(value):
    """Suboptions come back with every unset key as None; the spec wants them absent."""
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def single_spec(p):
    spec = {"name": p["name"]}
    for key in SPEC_OPTIONS:
        if p.get(key) is not None:
            spec[key] = _strip_none(p[key])
    return spec


def _spec_errors(exc):
    return [str(e) for e in exc.errors]


def validate(p):
    """Everything checkable without the API: returns (request, errors).

    request: {"builds": [container_unit.build results], "remove": [names], "single": bool}.
    """
    errors = []
    errors.append(name_error("instance", p["instance"], "instance name"))
    errors.append(zone_error("zone", p["zone"]))
    spec_given = sorted(k for k in SPEC_OPTIONS if p.get(k) is not None)
    builds, remove = [], []
    single = p["name"] is not None
    if p["migrate"]:
        if p["state"] != "present":
            errors.append("migrate: converts a declaration into a running container; it cannot go with state: absent")
        if p["containers"] is not None or spec_given:
            errors.append(
                "migrate: the spec comes from gce-container-declaration; only name may be given with it "
                "(got %s). Migrate first, then change the container in a later task"
                % ", ".join((["containers"] if p["containers"] is not None else []) + spec_given)
            )
        if single:
            errors.append(name_error("name", p["name"], "container name"))
        return {"builds": [], "remove": [], "single": single}, [e for e in errors if e]
    if not single and p["containers"] is None:
        errors.append("one of name or containers is required (or migrate: true)")
    if p["containers"] is not None and spec_given:
        errors.append(
            "%s: with containers, give the spec fields inside each entry of containers, not at the top level"
            % ", ".join(spec_given)
        )
    if p["state"] == "absent" and p["exclusive"]:
        errors.append("exclusive: only applies with state: present")
    if p["state"] == "absent":
        entries = [{"name": p["name"]}] if single else (p["containers"] or [])
        for i, entry in enumerate(entries):
            field = "name" if single else "containers[%d].name" % i
            cname = entry.get("name") if isinstance(entry, dict) else None
            err = name_error(field, cname, "container name")
            if err:
                errors.append(err)
            elif cname not in remove:
                remove.append(cname)
    else:
        specs = [(single_spec(p), "")] if single else [
            (entry, "containers[%d]" % i) for i, entry in enumerate(p["containers"] or [])
        ]
        seen = {}
        for spec, path in specs:
            try:
                built = container_unit.build(spec, path)
            except container_spec.SpecError as exc:
                errors.extend(_spec_errors(exc))
                continue
            cname = built["spec"]["name"]
            if cname in seen:
                errors.append("%s.name: %r is also the name of %s; names must be unique"
                              % (path, cname, seen[cname] or "name"))
                continue
            seen[cname] = path
            errors.append(value_error("%s (unit of container %s)" % (built["metadata_key"], cname), built["unit"]))
            builds.append(built)
    return {"builds": builds, "remove": remove, "single": single}, [e for e in errors if e]


def spec_of(unit_text):
    """The spec recorded in a unit, or a stand-in for a value not written by this module."""
    spec = container_unit.spec_from_unit(unit_text)
    if spec is None:
        return {"revision": container_unit.revision(unit_text), "note": "no cos-spec line in this unit"}
    return spec


def specs_view(metadata):
    return {
        key[len(PREFIX):]: spec_of(value) for key, value in sorted(metadata.items()) if key.startswith(PREFIX)
    }


def guest_attributes_enabled(metadata):
    return str(metadata.get(GUEST_ATTRIBUTES_KEY, "")).strip().lower() == "true"


class ContainerTask:
    def __init__(self, gcp, request):
        self.gcp = gcp
        self.p = gcp.params
        self.zone = self.p["zone"]
        self.name = self.p["instance"]
        self.resource = "instance %r in %s" % (self.name, self.zone)
        self.builds = request["builds"]
        self.remove = request["remove"]
        self.single = request["single"]
        self.notes = []
        self.migrated_from = None  # the converted spec, when migrating
        self.changed = False

    # reads ----------------------------------------------------------------------------------
    def read(self):
        return self.gcp.api.get(
            "instances", "read", self.resource, project=self.gcp.api.project, zone=self.zone, instance=self.name
        )

    def must_read(self):
        inst = self.read()
        if inst is None:
            raise GcpError(
                "%s was not found in project %s: create it first (gce.cos.cos_instance), or check instance and zone"
                % (self.resource, self.gcp.api.project),
                status=404,
            )
        return inst

    # the desired metadata, as a pure function of the current one ----------------------------
    def change(self, current):
        p = self.p
        wanted = dict(current)
        keys = set()
        for built in self.builds:
            wanted[built["metadata_key"]] = built["unit"]
            keys.add(built["metadata_key"])
        for cname in self.remove:
            wanted.pop(container_unit.metadata_key(cname), None)
        if p["exclusive"] and p["state"] == "present":
            for key in list(wanted):
                if key.startswith(PREFIX) and key not in keys:
                    del wanted[key]
        if self.migrated_from is not None:
            wanted.pop(KONLET_KEY, None)
        if self.builds and p["apply"] == "agent" and not guest_attributes_enabled(wanted):
            wanted[GUEST_ATTRIBUTES_KEY] = "TRUE"
        user_data = current.get(USER_DATA_KEY, "")
        new_user_data = user_data
        try:
            if self.migrated_from is not None and not cloud_config.has_agent(new_user_data):
                new_user_data = cloud_config.with_agent(new_user_data)
            if p["apply"] == "restart":
                units = {k[len(PREFIX):]: v for k, v in wanted.items() if k.startswith(PREFIX)}
                new_user_data = cloud_config.with_units(new_user_data, units)
        except cloud_config.CloudConfigError as exc:
            why = "to add the cos agent for the migration" if self.migrated_from is not None else (
                "to carry the container units for apply: restart")
            raise GcpError("%s: cannot edit the user-data of %s %s: %s" % (
                "migrate" if self.migrated_from is not None else "apply", self.resource, why, exc))
        if new_user_data != user_data:
            wanted[USER_DATA_KEY] = new_user_data
        return wanted

    # migration --------------------------------------------------------------------------------
    def convert(self, inst, declaration):
        attached = {}
        for disk in inst.get("disks") or []:
            if disk.get("deviceName"):
                attached[disk["deviceName"]] = disk.get("mode") or "READ_WRITE"
        try:
            spec, notes = konlet.convert(declaration, name=self.p["name"], attached_disks=attached)
        except konlet.KonletError as exc:
            raise GcpError("migrate: %s cannot be moved off konlet, because konlet itself would refuse its "
                           "declaration: %s" % (self.resource, exc))
        built = container_unit.build(spec)
        err = value_error("%s (unit of container %s)" % (built["metadata_key"], spec["name"]), built["unit"])
        if err:
            raise GcpError(err)
        self.builds = [built]
        self.migrated_from = spec
        self.notes.extend(notes)

    # main -------------------------------------------------------------------------------------
    def run(self):
        p = self.p
        inst = self.must_read()
        current = metadata_dict(inst)
        declaration = current.get(KONLET_KEY)
        if declaration is not None:
            if not p["migrate"]:
                raise GcpError(
                    "%s still has gce-container-declaration, so konlet runs a container on it at every boot; konlet "
                    "and the cos agent would fight over the VM. Set migrate: true to convert the declaration to a "
                    "gce.cos container (see docs/cos_container.md, 'Moving off gce-container-declaration'), or "
                    "remove the key" % self.resource
                )
            self.convert(inst, declaration)
        elif p["migrate"]:
            self.notes.append("%s has no gce-container-declaration: nothing to migrate" % self.resource)

        wanted = self.change(current)
        errors = size_errors(wanted, self.resource)
        if errors:
            raise GcpError("; ".join(errors))

        before = {"containers": specs_view(current)}
        if self.migrated_from is not None:
            before[KONLET_KEY] = self.migrated_from
        plan = Plan(before=before, after={"containers": specs_view(wanted)})
        if wanted != current:
            plan.add(
                "set metadata of %s: %s" % (self.resource, describe_changes(current, wanted)),
                lambda: set_metadata(self.gcp, self.zone, self.name, inst, self.change, self.read),
            )
        status = inst.get("status")
        restart = wanted.get(USER_DATA_KEY) != current.get(USER_DATA_KEY) and (
            p["apply"] == "restart" or self.migrated_from is not None
        )
        restarted = False
        if restart and status == "RUNNING":
            why = "konlet's container goes, the agent starts" if self.migrated_from is not None else (
                "cloud-init writes and starts the units at boot; everything on the VM is down meanwhile")
            plan.add("stop %s (%s)" % (self.resource, why), lambda: self.power("stop"))
            plan.add("start %s" % self.resource, lambda: self.power("start"))
            restarted = True
        elif restart:
            self.gcp.warnings.append(
                "%s is %s: it was not started; the containers start with it at its next boot" % (self.resource, status)
            )
        if self.migrated_from is not None and not restart and status == "RUNNING":
            self.gcp.warnings.append(
                "%s already had the cos agent in its user-data, so it was not restarted: the agent's unit removes "
                "the container konlet started (klt-%s-*) before it starts the migrated one"
                % (self.resource, self.migrated_from["name"])
            )
        if (
            self.builds
            and p["apply"] == "agent"
            and self.migrated_from is None
            and not cloud_config.has_agent(wanted.get(USER_DATA_KEY, ""))
        ):
            self.gcp.warnings.append(
                "the user-data of %s does not install the cos agent (%s): unless the VM gets the agent another way, "
                "nothing runs these containers; use apply: restart for VMs without it"
                % (self.resource, cloud_config.AGENT_MARKER)
            )
        for built in self.builds:
            self.gcp.warnings.extend(container_spec.warnings(built["spec"]))

        plan.execute(self.gcp.check_mode)
        self.changed = plan.changed

        entries = self.entries(current)
        awaited = [e for e in entries if "revision" in e or e["action"] == "remove"]
        if p["wait"] and not self.gcp.check_mode and p["apply"] == "agent" and awaited:
            if status == "RUNNING":
                self.wait(entries, current)
            else:
                self.gcp.warnings.append(
                    "%s is %s: not waiting for the agent; the containers start when the VM runs"
                    % (self.resource, status)
                )
        return self.result(plan, entries, restarted)

    def power(self, verb):
        return self.gcp.mutate("instances", verb + "_unary", verb, self.resource, zone=self.zone, instance=self.name)

    def entries(self, current):
        out = []
        for built in self.builds:
            key = built["metadata_key"]
            previous = current.get(key)
            if previous is None:
                action = "create"
            elif previous == built["unit"]:
                action = "none"
            else:
                action = "update"
            entry = {
                "name": built["spec"]["name"],
                "action": action,
                "metadata_key": key,
                "unit_name": built["unit_name"],
                "revision": built["revision"],
                "unit": built["unit"],
                "docker_args": built["docker_args"],
                "spec": built["spec"],
            }
            if previous is not None:
                entry["previous_revision"] = container_unit.revision(previous)
            out.append(entry)
        removed = list(self.remove)
        if self.p["exclusive"] and self.p["state"] == "present":
            keep = {b["metadata_key"] for b in self.builds}
            removed.extend(k[len(PREFIX):] for k in sorted(current) if k.startswith(PREFIX) and k not in keep)
        for cname in removed:
            key = container_unit.metadata_key(cname)
            entry = {
                "name": cname,
                "action": "remove" if key in current else "none",
                "metadata_key": key,
                "unit_name": container_unit.unit_name(cname),
            }
            if key in current:
                entry["previous_revision"] = container_unit.revision(current[key])
            out.append(entry)
        return out

    def wait(self, entries, current):
        targets = {}
        for entry in entries:
            if "revision" in entry:
                policy = entry["spec"]["restart_policy"]
                targets[entry["name"]] = {"revision": entry["revision"], "accept_stopped": policy != "always"}
            elif entry["action"] == "remove":
                targets[entry["name"]] = {"removed": True}

        def read():
            return read_reports(self.gcp.api, self.zone, self.name)

        try:
            reports = wait_for_reports(read, targets, self.gcp.wait_timeout)
        except AgentFailure as exc:
            entry = next(e for e in entries if e["name"] == exc.name)
            entry.update(state=exc.report.get("state"), error=exc.report.get("error") or "")
            entry["restarts"] = restarts(exc.report)
            how = "failed"
            if exc.report.get("state") != FAILED:
                # systemd keeps restarting it: a crash loop, not a passing hiccup.
                how = "keeps failing (systemd restarted it %d times)" % entry["restarts"]
            raise ContainerFailed(
                "container %s on %s %s at revision %s, as the cos agent reports: %s"
                % (exc.name, self.resource, how, entry.get("revision"), exc.report.get("error") or "(no error text)"),
                entries,
                self.changed,
            )
        for entry in entries:
            report = reports.get(entry["name"])
            if "revision" in entry and report:
                entry["state"] = report.get("state")
                entry["digest"] = report.get("digest") or ""
                entry["image"] = report.get("image") or ""
                entry["restarts"] = restarts(report)
            elif entry["action"] == "remove":
                entry["state"] = "removed"

    def result(self, plan, entries, restarted):
        out = {
            "changed": plan.changed,
            "actions": plan.descriptions,
            "diff": plan.diff(),
            "containers": entries,
            "restarted": restarted and plan.changed,
            "notes": self.notes,
        }
        if self.single or self.migrated_from is not None:
            wanted = self.p["name"] or (self.migrated_from or {}).get("name")
            out["container"] = next((e for e in entries if e["name"] == wanted), {})
        return out


class ContainerFailed(GcpError):
    def __init__(self, message, entries, changed):
        GcpError.__init__(self, message, reason="container-failed")
        self.entries = entries
        self.changed = changed


def no_log_values(p):
    """Secrets the module holds (credentials): never let them into the result."""
    values = [p.get("access_token")]
    contents = p.get("service_account_contents")
    if isinstance(contents, dict):
        values.append(contents.get("private_key"))
    elif isinstance(contents, str):
        values.append(contents)
    return [v for v in values if isinstance(v, str) and len(v) >= 8]


def main():
    gcp = GcpModule(ARGUMENT_SPEC, mutually_exclusive=[("name", "containers")])
    request, errors = validate(gcp.params)
    if errors:
        gcp.fail("; ".join(errors) if len(errors) < 2 else "%d problems: %s" % (len(errors), "; ".join(errors)))
    secrets = no_log_values(gcp.params)

    def converge(gcp):
        task = ContainerTask(gcp, request)
        try:
            result = task.run()
        except ContainerFailed as exc:
            gcp.fail(str(exc), changed=exc.changed,
                     containers=container_unit.redact(copy.deepcopy(exc.entries), secrets))
            return
        result["containers"] = container_unit.redact(result["containers"], secrets)
        if "container" in result:
            result["container"] = container_unit.redact(result["container"], secrets)
        gcp.exit(**result)

    gcp.run(converge)


if __name__ == "__main__":
    main()
