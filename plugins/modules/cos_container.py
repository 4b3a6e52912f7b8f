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
  - Each container is described by a container spec, given as the options O(name), O(image), ... (one container),
    or as the entries of O(containers). The
    R(container spec guide,ansible_collections.gce.cos.docsite.guide_container_spec) describes every field.
    The spec is validated, rendered as a systemd unit that creates the container
    (C(docker create --name NAME --network host ...)), starts it detached and waits for it, so its output goes
    to its log driver only, never also to the journal, and stored in the instance metadata key
    C(cos-container-NAME) with a fingerprinted C(setMetadata). Other metadata keys are left untouched; a
    concurrent change between the read and the write is retried once on a fresh read.
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
      - The list form, for several containers in one write. Each entry is a container spec with the same fields,
        types and checks as the single-container options (O(name), O(image), O(command), ... O(docker_args)).
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
        declaration key is removed.
      - The VM's user-data (empty or a C(#cloud-config) document) gains, to run at every boot, the disk units of
        each persistent disk the container uses (format only when blank, otherwise C(fsck.ext4 -p), mount at
        C(/mnt/disks/DEVICE) where the container's unit requires it; read-only when attached read-only), konlet's
        opening of the host firewall (ACCEPT for tcp, udp and icmp on C(INPUT) and C(FORWARD), with C(iptables)
        and C(ip6tables)) unless O(ports) is given, and the cos agent.
      - When the user-data changed and the VM lacked the agent or has such disks, the VM is stopped and started once
        (konlet's container goes with the old boot).
      - A declaration that cannot be migrated fails before any change, with RV(migration.outcome) V(refused)
        (konlet itself rejects it; konlet's reason) or V(unsupported) (konlet runs it, gce.cos cannot convert it
        yet; the reason and the fix). A read-only C(hostPath) may be any path (such as C(/etc/ssl/certs)); a
        writable one must be below C(/var), C(/home) or C(/mnt/disks).
      - Only O(name) (to run the container under another name) and O(ports) (to open only those ports on the host
        firewall, through the container's unit, instead of konlet's whole opening) may be given with it. Without a
        declaration the task does nothing.
    type: bool
    default: false
extends_documentation_fragment:
  - gce.cos.attributes
  - gce.cos.container_spec
  - gce.cos.container_spec.containers
  - gce.cos.gcp
  - gce.cos.gcp.wait
notes:
  - Every spec is validated before the first API call; all problems are reported at once, each with its field path.
  - Metadata limits are checked before writing. A value (one unit) may hold 256 KB, and an instance 512 KB in total.
  - O(wait_timeout) bounds each Compute Engine operation and, separately, the wait for the agent's reports.
  - The containers, their units and the agent are described in the
    R(containers guide,ansible_collections.gce.cos.docsite.guide_containers); how to move off
    C(gce-container-declaration) in the R(migration guide,ansible_collections.gce.cos.docsite.guide_migration).
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

- name: Move a konlet web server, opening only its port rather than konlet's whole host firewall
  gce.cos.cos_container:
    instance: konlet-2
    zone: us-central1-a
    migrate: true
    ports: [80]
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
    docker_argv:
      description: The C(docker create) argv of the unit (it then starts the container detached and waits for it).
      type: list
      elements: str
      sample: [docker, create, --name, web, --network, host, nginx:1.27]
    docker_args:
      description:
        - Deprecated, use RV(containers[].docker_argv), which holds the same list. The option O(docker_args)
          holds only the extra arguments, this result the whole argv; this key will be removed in 1.0.0.
      type: list
      elements: str
      sample: [docker, create, --name, web, --network, host, nginx:1.27]
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
    serving:
      description: The revision that serves after the agent rolled a failed update back (the new revision was not
        ready by its deadline); only when the task failed on it.
      type: str
      sample: 3f0c2a9e81b7d644
    log:
      description: The last lines of the rolled-back revision's own log (secret values masked); only when the task
        failed on it.
      type: str
      sample: "panic: missing DATABASE_URL"
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
migration:
  description:
    - What a konlet migration did, or why it did not happen.
  returned: when a declaration was migrated, or could not be (then with the failure)
  type: dict
  contains:
    outcome:
      description: V(migrated), V(refused) (konlet itself rejects the declaration) or V(unsupported) (konlet runs
        it, gce.cos cannot convert it yet).
      type: str
      sample: migrated
    host_firewall:
      description: What the migrated VM opens on its host firewall; with V(migrated).
      type: str
      sample: "everything konlet opened: ACCEPT for tcp, udp and icmp on INPUT and FORWARD, IPv4 and IPv6"
    disks_mounted:
      description: The disks the user-data prepares and mounts at every boot, as C(DEVICE at PATH); with
        V(migrated).
      type: list
      elements: str
      sample: ["data at /mnt/disks/data"]
    reasons:
      description: Each reason, with V(refused) and V(unsupported).
      type: list
      elements: str
"""

from ansible_collections.gce.cos.plugins.module_utils._api_helper.code_cache import use_code_cache

use_code_cache()  # before the module_utils below: on the helper path their compiled code is kept
from ansible_collections.gce.cos.plugins.module_utils import container_spec
from ansible_collections.gce.cos.plugins.module_utils._container.request import problems, validate
from ansible_collections.gce.cos.plugins.module_utils._container.task import converge
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_module import GcpModule

# The container spec's rows make the options of both forms: one container, or each entry of containers.
SPEC_OPTIONS = container_spec.argument_spec()

ARGUMENT_SPEC = dict(
    instance=dict(type="str", required=True),
    zone=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    containers=dict(type="list", elements="dict", options=SPEC_OPTIONS),
    exclusive=dict(type="bool", default=False),
    wait=dict(type="bool", default=True),
    apply=dict(type="str", default="agent", choices=["agent", "restart"]),
    migrate=dict(type="bool", default=False),
    **SPEC_OPTIONS
)


def main():
    gcp = GcpModule(ARGUMENT_SPEC, mutually_exclusive=[("name", "containers")])
    request, errors = validate(gcp.params)
    if errors:
        gcp.fail(problems(errors))
    gcp.run(lambda gcp: converge(gcp, request))


if __name__ == "__main__":
    main()
