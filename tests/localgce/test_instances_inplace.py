"""instances: in-place changes (setScheduling, updateShieldedInstanceConfig, addAccessConfig,
deleteAccessConfig, update) through the real client, with the API's status preconditions."""

from __future__ import annotations

import pytest
from google.api_core import exceptions
from google.cloud import compute_v1
from lgce_api import PROJECT, ZONE

REGION = "us-central1"


def reason(exc):
    return exc.value.errors[0]["reason"]


def get(api, name="vm-1"):
    return api.instances.get(project=PROJECT, zone=ZONE, instance=name)


def stop(api, name="vm-1"):
    api.ok(api.instances.stop_unary(project=PROJECT, zone=ZONE, instance=name))


def set_scheduling(api, name="vm-1", **fields):
    return api.instances.set_scheduling_unary(project=PROJECT, zone=ZONE, instance=name,
                                              scheduling_resource=compute_v1.Scheduling(**fields))


def test_set_scheduling_on_a_running_and_a_stopped_instance(api):
    before = api.create_instance("vm-1")
    assert before.status == "RUNNING"
    # Host maintenance and automatic restart of a standard VM change while it runs.
    api.ok(set_scheduling(api, on_host_maintenance="TERMINATE", automatic_restart=False,
                          provisioning_model="STANDARD", preemptible=False))
    inst = get(api)
    assert inst.scheduling.on_host_maintenance == "TERMINATE" and inst.scheduling.automatic_restart is False
    assert inst.status == "RUNNING" and inst.fingerprint != before.fingerprint
    # The provisioning model needs a stopped VM.
    with pytest.raises(exceptions.BadRequest) as exc:
        set_scheduling(api, provisioning_model="SPOT", on_host_maintenance="TERMINATE", automatic_restart=False)
    assert "must be stopped" in str(exc.value) and "RUNNING" in str(exc.value)
    # A Spot VM cannot migrate or restart automatically.
    stop(api)
    with pytest.raises(exceptions.BadRequest) as exc:
        set_scheduling(api, provisioning_model="SPOT", on_host_maintenance="MIGRATE")
    assert "onHostMaintenance" in str(exc.value)
    api.ok(set_scheduling(api, provisioning_model="SPOT"))  # the Spot defaults are filled in
    sched = get(api).scheduling
    assert (sched.provisioning_model, sched.on_host_maintenance, sched.automatic_restart) == ("SPOT", "TERMINATE",
                                                                                               False)
    # Back to STANDARD (stopped): omitted fields take the standard defaults again.
    api.ok(set_scheduling(api, provisioning_model="STANDARD"))
    sched = get(api).scheduling
    assert (sched.provisioning_model, sched.on_host_maintenance, sched.automatic_restart) == ("STANDARD", "MIGRATE",
                                                                                               True)


def test_preemptibility_never_changes(api):
    api.create_instance("vm-1", scheduling=compute_v1.Scheduling(preemptible=True))
    stop(api)
    with pytest.raises(exceptions.BadRequest) as exc:
        set_scheduling(api, preemptible=False)
    assert "preemptibility" in str(exc.value)
    assert get(api).scheduling.preemptible is True


def test_update_shielded_instance_config_needs_a_stopped_instance(api):
    api.create_instance("vm-1")
    body = compute_v1.ShieldedInstanceConfig(enable_secure_boot=True)

    def call():
        return api.instances.update_shielded_instance_config_unary(
            project=PROJECT, zone=ZONE, instance="vm-1", shielded_instance_config_resource=body)

    with pytest.raises(exceptions.BadRequest) as exc:
        call()
    assert reason(exc) == "invalidResourceUsage" and "must be stopped" in str(exc.value)
    stop(api)
    api.ok(call())
    cfg = get(api).shielded_instance_config
    # PATCH: only the given field changes.
    assert (cfg.enable_secure_boot, cfg.enable_vtpm, cfg.enable_integrity_monitoring) == (True, True, True)


def address(api, name):
    client = api.srv.client(compute_v1.AddressesClient)
    api.ok(client.insert_unary(project=PROJECT, region=REGION, address_resource=compute_v1.Address(name=name)))
    return client, client.get(project=PROJECT, region=REGION, address=name)


def test_access_configs_ephemeral_and_static_on_a_running_instance(api):
    api.create_instance("vm-1", network_interfaces=[compute_v1.NetworkInterface(
        network="global/networks/default", access_configs=[compute_v1.AccessConfig()])])
    nic = get(api).network_interfaces[0]
    ephemeral = nic.access_configs[0].nat_i_p
    # At most one access config per interface.
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.add_access_config_unary(project=PROJECT, zone=ZONE, instance="vm-1", network_interface="nic0",
                                              access_config_resource=compute_v1.AccessConfig())
    assert "At most one access config" in str(exc.value)
    with pytest.raises(exceptions.BadRequest):
        api.instances.delete_access_config_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                 network_interface="nic0", access_config="nope")
    api.ok(api.instances.delete_access_config_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                    network_interface="nic0", access_config="External NAT"))
    inst = get(api)
    assert not inst.network_interfaces[0].access_configs and inst.status == "RUNNING"
    assert inst.network_interfaces[0].fingerprint != nic.fingerprint

    # A static address: it must be reserved in the region; it turns IN_USE, and RESERVED again.
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.add_access_config_unary(project=PROJECT, zone=ZONE, instance="vm-1", network_interface="nic0",
                                              access_config_resource=compute_v1.AccessConfig(nat_i_p="35.1.2.3"))
    assert "not reserved" in str(exc.value)
    addresses, static = address(api, "web-ip")
    assert static.status == "RESERVED" and static.address != ephemeral
    api.ok(api.instances.add_access_config_unary(
        project=PROJECT, zone=ZONE, instance="vm-1", network_interface="nic0",
        access_config_resource=compute_v1.AccessConfig(name="static", nat_i_p=static.address)))
    ac = get(api).network_interfaces[0].access_configs[0]
    assert (ac.name, ac.nat_i_p, ac.type_) == ("static", static.address, "ONE_TO_ONE_NAT")
    used = addresses.get(project=PROJECT, region=REGION, address="web-ip")
    assert used.status == "IN_USE" and list(used.users) == [get(api).self_link]
    # An address in use can be neither deleted nor given to a second instance.
    with pytest.raises(exceptions.BadRequest) as exc:
        addresses.delete_unary(project=PROJECT, region=REGION, address="web-ip")
    assert reason(exc) == "resourceInUseByAnotherResource"
    assert (f"The address resource 'projects/{PROJECT}/regions/{REGION}/addresses/web-ip' is already being used "
            f"by 'projects/{PROJECT}/zones/{ZONE}/instances/vm-1'") in str(exc.value)
    with pytest.raises(exceptions.BadRequest) as exc:
        api.create_instance("vm-2", network_interfaces=[compute_v1.NetworkInterface(
            network="global/networks/default", access_configs=[compute_v1.AccessConfig(nat_i_p=static.address)])])
    assert reason(exc) == "resourceInUseByAnotherResource"
    api.ok(api.instances.delete_access_config_unary(project=PROJECT, zone=ZONE, instance="vm-1",
                                                    network_interface="nic0", access_config="static"))
    freed = addresses.get(project=PROJECT, region=REGION, address="web-ip")
    assert freed.status == "RESERVED" and not freed.users
    # Created with the static address, it is released when the instance goes.
    api.create_instance("vm-2", network_interfaces=[compute_v1.NetworkInterface(
        network="global/networks/default", access_configs=[compute_v1.AccessConfig(nat_i_p=static.address)])])
    assert addresses.get(project=PROJECT, region=REGION, address="web-ip").status == "IN_USE"
    api.ok(api.instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-2"))
    assert addresses.get(project=PROJECT, region=REGION, address="web-ip").status == "RESERVED"


def test_update_changes_the_description_with_the_fingerprint(api):
    inst = api.create_instance("vm-1", description="one")
    inst.description = "two"
    api.ok(api.instances.update_unary(project=PROJECT, zone=ZONE, instance="vm-1", instance_resource=inst))
    after = get(api)
    assert after.description == "two" and after.fingerprint != inst.fingerprint
    assert after.status == "RUNNING" and after.labels == inst.labels
    # A stale fingerprint is refused (412), and so is a change update does not make.
    inst.description = "three"
    with pytest.raises(exceptions.PreconditionFailed):
        api.instances.update_unary(project=PROJECT, zone=ZONE, instance="vm-1", instance_resource=inst)
    after.machine_type = after.machine_type.replace("e2-small", "e2-medium")
    with pytest.raises(exceptions.BadRequest) as exc:
        api.instances.update_unary(project=PROJECT, zone=ZONE, instance="vm-1", instance_resource=after)
    assert "setMachineType" in str(exc.value)
    assert get(api).description == "two"
