"""The gce.cos.cos_vms inventory plugin: ansible-inventory against localgce over HTTP (the real
google-cloud-compute client inside the plugin), for 0, 1 and 500 VMs across zones, with agent
VMs, konlet VMs and unmanaged VMs; the request log proves what each listing costs."""

import json
import os
import subprocess
import sys

import pytest
from estate import KONLET_REFUSED, KONLET_UNSUPPORTED, ROOT, ZONES, Estate, ansible_env, ansible_inventory, kind_of

from localgce.testing import LocalGCE

PLUGIN = "plugin: gce.cos.cos_vms\n"


def source(tmp_path, text, name="estate.cos_vms.yml"):
    path = tmp_path / name
    path.write_text(PLUGIN + text)
    return path


def plain(value):
    """ansible-inventory --list writes some strings as {"__ansible_unsafe": text}."""
    if isinstance(value, dict):
        if list(value) == ["__ansible_unsafe"]:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def inventory_list(env, src, *args):
    run = ansible_inventory(env, src, "--list", *args)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "Failed to parse" not in run.stderr, run.stderr
    return plain(json.loads(run.stdout))


def api_requests(srv):
    return [r for r in srv.requests() if r["path"].startswith("/compute/v1/")]


def members(data, group):
    return sorted(data.get(group, {}).get("hosts", []))


def failed_env(srv, tmp_path, **extra):
    """Fail the run when a source cannot be parsed (AWX runs inventory updates this way)."""
    return ansible_env(srv, tmp_path, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true", **extra)


# -- 0 and 1 VMs --------------------------------------------------------------------------------
def test_no_vms_is_an_empty_inventory_from_one_request(localgce, tmp_path):
    env = failed_env(localgce, tmp_path)
    data = inventory_list(env, source(tmp_path, ""), "--export")
    assert data["_meta"]["hostvars"] == {}
    assert data["all"]["children"] == ["ungrouped"]
    reqs = api_requests(localgce)
    assert [(r["method"], r["path"]) for r in reqs] == [
        ("GET", "/compute/v1/projects/test-project/aggregated/instances"),
        ("GET", "/compute/v1/projects/test-project/global/instanceTemplates")]
    assert reqs[0]["query"]["maxResults"] == "500"
    assert data["all"]["vars"] == {"cos_konlet_templates": []}


def test_one_agent_vm_with_reports(localgce, tmp_path):
    estate = Estate(localgce)
    units = estate.agent_vm("web-1", "us-central1-a", containers=("web", "api"), labels={"env": "prod"})
    # The agent runs api at an older revision and reports a restart of it.
    estate.report("web-1", "us-central1-a", {
        "web": {"revision": units["web"]["revision"], "state": "running", "image": "nginx:1.25",
                "digest": "sha256:" + "b" * 64, "error": "", "restarts": 0},
        "api": {"revision": "0123456789abcdef", "state": "restarting", "image": "nginx:1.25", "digest": "",
                "error": "exit status 1", "restarts": 2},
        "old": {"revision": "1111111111111111", "state": "running"},
    })
    localgce.clear_requests()
    env = failed_env(localgce, tmp_path)
    src = source(tmp_path, "with_reports: true\nwith_templates: false\n")
    graph = ansible_inventory(env, src, "--graph")
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.split() == [
        "@all:", "|--@ungrouped:", "|--@zone_us_central1_a:", "|", "|--web-1", "|--@cos_agent:", "|", "|--web-1",
        "|--@container_api:", "|", "|--web-1", "|--@image_nginx:", "|", "|--web-1", "|--@container_web:", "|",
        "|--web-1", "|--@label_env_prod:", "|", "|--web-1", "|--@status_running:", "|", "|--web-1"]
    assert len(api_requests(localgce)) == 2  # the list, and one guest-attribute read
    localgce.clear_requests()

    host = inventory_list(env, src)["_meta"]["hostvars"]["web-1"]
    assert [r["path"].rsplit("/", 1)[-1] for r in api_requests(localgce)] == ["instances", "getGuestAttributes"]
    assert host["gce_zone"] == "us-central1-a" and host["gce_status"] == "RUNNING"
    assert host["gce_labels"] == {"env": "prod"}
    assert host["gce_private_ip"].startswith("10.") and host["gce_public_ip"]
    assert host["ansible_host"] == host["gce_public_ip"]
    assert host["cos_konlet"] is None
    web, api = host["cos_containers"]["web"], host["cos_containers"]["api"]
    assert web["spec"] == units["web"]["spec"] and web["revision"] == units["web"]["revision"]
    assert web["observed"]["state"] == "running" and web["observed"]["digest"] == "sha256:" + "b" * 64
    assert web["in_sync"] is True
    assert api["in_sync"] is False
    assert api["observed"] == {"state": "restarting", "revision": "0123456789abcdef", "digest": "",
                               "image": "nginx:1.25", "restarts": 2, "error": "exit status 1", "time": None}
    agent = host["cos_agent"]
    assert agent["installed"] is True and agent["reported"] is True and agent["version"]
    assert agent["undesired"] == ["old"]
    # user-data (the agent's script) and the units stay out of the plain metadata view
    assert host["gce_metadata"] == {"enable-guest-attributes": "TRUE"}


def test_without_reports_no_guest_attribute_is_read(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", "us-central1-a")
    localgce.clear_requests()
    host = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, "with_templates: false\n"))[
        "_meta"]["hostvars"]["web-1"]
    assert len(api_requests(localgce)) == 1
    assert host["cos_agent"] == {"installed": True}
    assert "observed" not in host["cos_containers"]["web"]


def test_konlet_vms_carry_the_declaration_and_what_a_migration_would_run(localgce, tmp_path):
    estate = Estate(localgce)
    estate.konlet_vm("legacy-1", "us-central1-b")
    estate.konlet_vm("legacy-2", "us-central1-b", declaration=KONLET_REFUSED)
    estate.konlet_vm("legacy-3", "us-central1-b", declaration=KONLET_UNSUPPORTED)
    data = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, "with_reports: true\n"))
    assert members(data, "konlet") == ["legacy-1", "legacy-2", "legacy-3"]
    assert members(data, "image_gcr_io_legacy_project_legacy_app") == ["legacy-1", "legacy-2", "legacy-3"]
    assert "cos_agent" not in data
    good = data["_meta"]["hostvars"]["legacy-1"]["cos_konlet"]
    assert good["declaration"]["containers"][0]["args"] == ["--port", "8080"]
    assert good["spec"]["name"] == "legacy" and good["spec"]["env"] == {"MODE": "prod"}
    assert good["error"] is None and good["notes"]
    assert good["outcome"] is None
    bad = data["_meta"]["hostvars"]["legacy-2"]["cos_konlet"]
    assert bad["spec"] is None and bad["outcome"] == "refused"
    assert "Unsupported container restart policy 'UnlessStopped'" in bad["error"]
    # konlet runs this one; gce.cos cannot convert it yet, which is not konlet's refusal.
    later = data["_meta"]["hostvars"]["legacy-3"]["cos_konlet"]
    assert later["spec"] is None and later["outcome"] == "unsupported"
    assert later["error"].startswith("konlet runs this gce-container-declaration, but gce.cos cannot convert it yet: ")
    assert "Fix: " in later["error"]
    # konlet VMs have no agent: no guest attributes are read for them
    assert [r for r in api_requests(localgce) if "getGuestAttributes" in r["path"]] == []


def test_instance_templates_that_still_carry_a_declaration(localgce, tmp_path):
    from estate import COS_FAMILY, KONLET_DECLARATION
    from google.cloud.compute_v1.services.instance_templates import InstanceTemplatesClient
    from google.cloud.compute_v1.types import compute as t

    client = localgce.client(InstanceTemplatesClient)
    for name, metadata in (("legacy-tmpl", {"gce-container-declaration": KONLET_DECLARATION}),
                           ("agent-tmpl", {"startup-script": "echo"})):
        client.insert_unary(project="test-project", instance_template_resource=t.InstanceTemplate(
            name=name, properties=t.InstanceProperties(
                machine_type="e2-small",
                disks=[t.AttachedDisk(boot=True, auto_delete=True,
                                      initialize_params=t.AttachedDiskInitializeParams(source_image=COS_FAMILY))],
                network_interfaces=[t.NetworkInterface(network="global/networks/default")],
                metadata=t.Metadata(items=[t.Items(key=k, value=v) for k, v in metadata.items()]))))
    data = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, ""), "--export")
    (tmpl,) = data["all"]["vars"]["cos_konlet_templates"]
    assert tmpl["name"] == "legacy-tmpl" and tmpl["project"] == "test-project"
    assert tmpl["image"] == "gcr.io/legacy-project/legacy-app:3"
    assert tmpl["self_link"].endswith("/global/instanceTemplates/legacy-tmpl")
    off = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, "with_templates: false\n"), "--export")
    assert "vars" not in off["all"]


def test_instance_group_membership_from_created_by(localgce, tmp_path):
    link = "projects/123/zones/us-central1-a/instanceGroupManagers/web-mig"
    Estate(localgce).agent_vm("web-mig-x1z2", "us-central1-a", metadata={"created-by": link})
    data = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, ""))
    host = data["_meta"]["hostvars"]["web-mig-x1z2"]
    assert host["gce_created_by"] == link and host["gce_instance_group"] == "web-mig"
    assert members(data, "instance_group_web_mig") == ["web-mig-x1z2"]


# -- options ----------------------------------------------------------------------------------------
def test_filters_go_to_the_api(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("prod-1", "us-central1-a", labels={"env": "prod"})
    estate.agent_vm("dev-1", "us-central1-b", labels={"env": "dev"})
    estate.unmanaged_vm("prod-2", "europe-west1-b", labels={"env": "prod"})
    localgce.clear_requests()
    src = source(tmp_path, "with_templates: false\nfilters:\n  - labels.env = prod\n  - status = RUNNING\n")
    data = inventory_list(failed_env(localgce, tmp_path), src)
    assert sorted(data["_meta"]["hostvars"]) == ["prod-1", "prod-2"]
    (req,) = api_requests(localgce)
    assert req["query"]["filter"] == "(labels.env = prod) (status = RUNNING)"


def test_zones_keep_one_request(localgce, tmp_path):
    estate = Estate(localgce)
    for i, zone in enumerate(ZONES):
        estate.unmanaged_vm("vm-%d" % i, zone)
    localgce.clear_requests()
    data = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, "zones: [us-central1-b, europe-west1-b]\n"
                                                                         "with_templates: false\n"))
    assert sorted(data["_meta"]["hostvars"]) == ["vm-1", "vm-2"]
    assert len(api_requests(localgce)) == 1


def test_hostnames_fall_back_in_order(localgce, tmp_path):
    estate = Estate(localgce)
    estate.unmanaged_vm("public-1", "us-central1-a")
    estate.unmanaged_vm("private-1", "us-central1-a", external_ip=False)
    env = failed_env(localgce, tmp_path)
    data = inventory_list(env, source(tmp_path, "hostnames: [public_ip, name]\n"))
    hosts = data["_meta"]["hostvars"]
    public = next(h for h, v in hosts.items() if v["gce_name"] == "public-1")
    assert public == hosts[public]["gce_public_ip"]
    assert "private-1" in hosts  # no public IP: the name is next
    data = inventory_list(env, source(tmp_path, "hostnames: [private_ip]\n"))
    assert sorted(data["_meta"]["hostvars"]) == sorted(v["gce_private_ip"] for v in hosts.values())
    run = ansible_inventory(env, source(tmp_path, "hostnames: [public_ip]\n"), "--list")
    assert run.returncode == 0
    assert "test-project/us-central1-a/private-1 has none of the hostnames public_ip; left out" in run.stderr
    assert len(json.loads(run.stdout)["_meta"]["hostvars"]) == 1


def test_constructed_with_hyphenated_keys(localgce, tmp_path):
    estate = Estate(localgce)
    estate.agent_vm("web-1", "us-central1-a", labels={"team-name": "blue", "env": "prod"})
    estate.konlet_vm("legacy-1", "us-central1-b", labels={"team-name": "red"})
    estate.unmanaged_vm("other-1", "us-central1-b", metadata={"cost-center": "cc-7"})
    src = source(tmp_path, """\
strict: true
compose:
  team: gce_labels['team-name'] | default('none')
  web_image: (cos_containers.web | default({})).image | default('')
groups:
  runs_nginx: cos_containers.values() | map(attribute='image') | select('match', 'nginx') | list | length > 0
keyed_groups:
  - key: gce_labels['team-name'] | default('none')
    prefix: team
  - key: gce_metadata['cost-center'] | default('none')
    prefix: cost
  - key: gce_zone
    prefix: in
""")
    data = inventory_list(failed_env(localgce, tmp_path), src)
    hv = data["_meta"]["hostvars"]
    assert hv["web-1"]["team"] == "blue" and hv["legacy-1"]["team"] == "red" and hv["other-1"]["team"] == "none"
    assert hv["web-1"]["web_image"] == "nginx:1.25" and hv["legacy-1"]["web_image"] == ""
    assert members(data, "runs_nginx") == ["web-1"]
    assert members(data, "team_blue") == ["web-1"] and members(data, "team_red") == ["legacy-1"]
    assert members(data, "cost_cc_7") == ["other-1"]
    assert members(data, "in_us_central1_b") == ["legacy-1", "other-1"]


def test_inventory_cache_answers_without_requests(localgce, tmp_path):
    Estate(localgce).agent_vm("web-1", "us-central1-a")
    env = failed_env(localgce, tmp_path)
    src = source(tmp_path, "with_templates: false\ncache: true\ncache_plugin: ansible.builtin.jsonfile\n"
                 "cache_connection: %s\n" % (tmp_path / "cache"))
    first = inventory_list(env, src)
    localgce.clear_requests()
    again = inventory_list(env, src)
    assert api_requests(localgce) == []
    assert again == first
    flushed = ansible_inventory(env, src, "--list", "--flush-cache")
    assert flushed.returncode == 0 and len(api_requests(localgce)) == 1


def test_awx_gce_credential_environment(localgce, tmp_path, service_account_file):
    """AWX's credential injects a key file path and the kind; localgce checks the token."""
    Estate(localgce).unmanaged_vm("vm-1", "us-central1-a")
    localgce.config(require_auth=True)
    env = failed_env(localgce, tmp_path, GCP_AUTH_KIND="serviceaccount", GCE_CREDENTIALS_FILE_PATH=str(
        service_account_file), GCP_ENV_TYPE="tower", GCE_PROJECT="test-project")
    for name in ("GCP_ACCESS_TOKEN", "GCP_PROJECT"):
        env.pop(name)
    data = inventory_list(env, source(tmp_path, ""))
    assert list(data["_meta"]["hostvars"]) == ["vm-1"]
    assert all(r["auth"] for r in api_requests(localgce))


# -- bad input ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, env_change, message", [
    ("zonez: [us-central1-a]\n", {}, "gce.cos.cos_vms: unknown option(s) zonez; the options are: "),
    ("hostnames: [fqdn]\n", {}, "gce.cos.cos_vms: hostnames: 'fqdn' is not a hostname source; use a list of name, "
                                "private_ip, public_ip"),
    ("filters: ['status ~ RUNNING']\n", {}, "(filters: 'status ~ RUNNING'; check the field names"),
    ("", {"GCP_PROJECT": None},
     "gce.cos.cos_vms: project: no project given; set the option project, or the environment variable GCP_PROJECT"),
    ("", {"GCP_AUTH_KIND": None, "GCP_ACCESS_TOKEN": None},
     "gce.cos.cos_vms: authentication failed (auth_kind=application): Your default credentials were not found."),
    ("auth_kind: accesstoken\n", {"GCP_ACCESS_TOKEN": None, "GCP_AUTH_KIND": None},
     "gce.cos.cos_vms: auth_kind=accesstoken needs access_token (or GCP_ACCESS_TOKEN)"),
], ids=["unknown-option", "bad-hostnames", "bad-filter", "no-project", "no-credentials", "no-token"])
def test_bad_input_is_a_clear_error(localgce, tmp_path, text, env_change, message):
    Estate(localgce).unmanaged_vm("vm-1", "us-central1-a")
    localgce.clear_requests()
    env = ansible_env(localgce, tmp_path)
    for name in env_change:
        env.pop(name, None)
    src = source(tmp_path, text)
    # Ansible's default: the problem is a warning naming it, and the inventory is empty.
    run = ansible_inventory(env, src, "--list")
    assert message in run.stderr, run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert json.loads(run.stdout)["_meta"]["hostvars"] == {}
    # With unparsed sources failing (AWX, or the collection's recommended ansible.cfg) it is an error.
    strict = ansible_inventory(dict(env, ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true"), src, "--list")
    assert strict.returncode != 0
    assert message in strict.stderr
    assert "Completely failed to parse inventory source" in strict.stderr
    if "filters" not in text:
        assert api_requests(localgce) == []


def test_import_stays_light():
    code = ("import sys; sys.path.insert(0, %r);"
            "import ansible_collections.gce.cos.plugins.inventory.cos_vms as m;"
            "heavy = [n for n in sys.modules if n.startswith(('google', 'grpc', 'proto'))];"
            "print(heavy)") % (ROOT + "/.build/pythonpath")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- paging and scale ----------------------------------------------------------------------------------
def test_pages_are_followed_one_request_each(localgce, monkeypatch):
    from ansible_collections.gce.cos.plugins.module_utils import vm_inventory
    from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_client import ComputeApi
    from google.oauth2.credentials import Credentials

    estate = Estate(localgce)
    for i in range(17):
        estate.unmanaged_vm("vm-%02d" % i, ZONES[i % 3])
    monkeypatch.setattr(vm_inventory, "PAGE_SIZE", 5)
    localgce.clear_requests()
    api = ComputeApi(Credentials(token="t"), "test-project", localgce.url, auth_kind="accesstoken")
    instances = vm_inventory.list_instances(api, "test-project")
    assert sorted(i["name"] for i in instances) == ["vm-%02d" % i for i in range(17)]
    assert api.request_count == 4
    reqs = api_requests(localgce)
    assert len(reqs) == 4 and all(r["query"]["maxResults"] == "5" for r in reqs)
    assert [("pageToken" in r["query"]) for r in reqs] == [False, True, True, True]


@pytest.fixture(scope="module")
def big_estate():
    srv = LocalGCE.start()
    try:
        made = Estate(srv).mixed(500)
        yield srv, made
    finally:
        srv.stop()


def test_500_vms_across_zones_in_one_request(big_estate, tmp_path):
    srv, made = big_estate
    srv.clear_requests()
    env = failed_env(srv, tmp_path)
    data = inventory_list(env, source(tmp_path, ""))
    assert len(data["_meta"]["hostvars"]) == 500
    reqs = api_requests(srv)
    # the goal: at most 2 list requests for 500 VMs without reports (VMs, and instance templates)
    assert [r["path"].rsplit("/", 1)[-1] for r in reqs] == ["instances", "instanceTemplates"], reqs
    by_kind = {}
    for name, _zone, kind in made:
        by_kind.setdefault(kind, []).append(name)
    assert members(data, "cos_agent") == sorted(by_kind["agent"])
    assert members(data, "konlet") == sorted(by_kind["konlet"])
    assert members(data, "unmanaged") == sorted(by_kind["unmanaged"])
    assert members(data, "container_web") == sorted(by_kind["agent"])
    for zone in ZONES:
        assert members(data, "zone_" + zone.replace("-", "_")) == sorted(n for n, z, _k in made if z == zone)
    assert len(members(data, "label_env_prod")) == 250
    assert kind_of(4) == "konlet" and data["_meta"]["hostvars"]["vm-0004"]["cos_konlet"]["spec"]["name"] == "legacy"


def test_500_vms_with_reports_reads_each_agent_once(big_estate, tmp_path):
    srv, made = big_estate
    srv.clear_requests()
    data = inventory_list(failed_env(srv, tmp_path), source(tmp_path, "with_reports: true\nreport_concurrency: 4\n"))
    agents = sorted(n for n, _z, k in made if k == "agent")
    reads = sorted(r["path"].split("/")[-2] for r in api_requests(srv) if r["path"].endswith("/getGuestAttributes"))
    assert reads == agents
    assert len(api_requests(srv)) == 2 + len(agents)
    assert all(data["_meta"]["hostvars"][n]["cos_containers"]["web"]["in_sync"] for n in agents)


def test_graph_of_the_500(big_estate, tmp_path):
    srv, _made = big_estate
    run = ansible_inventory(failed_env(srv, tmp_path), source(tmp_path, ""), "--graph", "konlet")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split()
    assert lines[0] == "@konlet:"
    assert sorted(line.lstrip("|-") for line in lines[1:]) == sorted(
        "vm-%04d" % i for i in range(500) if kind_of(i) == "konlet")


# -- the example estate ---------------------------------------------------------------------------------
def test_example_estate_deploys_over_its_inventory_and_lists(localgce, tmp_path):
    """deploy.yml once per inventory host (API only: nothing waits for an agent), then the
    plugin lists what it wrote; a second deploy sends no mutating request."""
    env = ansible_env(localgce, tmp_path)
    playbook = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "playbooks/deploy.yml",
                "-i", "examples/estate/hosts.yml", "-f", "3", "-e", "cos_deploy_wait=false"]
    first = subprocess.run(playbook, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-3000:]
    localgce.clear_requests()
    again = subprocess.run(playbook, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:]
    recap = again.stdout[again.stdout.index("PLAY RECAP"):]
    assert sorted(line.split()[0] for line in recap.splitlines()[1:] if "ok=" in line) == ["api-1", "web-1", "web-2"]
    assert all("changed=0" in line for line in recap.splitlines()[1:] if "ok=" in line)
    assert localgce.requests(mutating_only=True) == []
    data = inventory_list(failed_env(localgce, tmp_path), source(tmp_path, "keyed_groups:\n"
                                                                 "  - key: gce_labels.role\n    prefix: role\n"))
    assert members(data, "role_web") == ["web-1", "web-2"] == members(data, "container_web")
    assert members(data, "role_api") == ["api-1"] == members(data, "container_api")
    hv = data["_meta"]["hostvars"]
    assert hv["web-2"]["gce_zone"] == "us-central1-b" and hv["web-1"]["gce_zone"] == "us-central1-a"
    assert hv["api-1"]["cos_containers"]["api"]["spec"]["volumes"][0]["device_name"] == "api-data"
    assert hv["web-1"]["cos_agent"] == {"installed": True}
