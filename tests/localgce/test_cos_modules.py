"""The cloud-init modules COS runs: the product's list (cloud_config) and the simulator's agree.

Here, not in tests/unit: the simulator (localgce) is not part of the collection that
ansible-test checks."""

from ansible_collections.gce.cos.plugins.module_utils._vm import cloud_config

from localgce.vm import image


def test_cos_keys_are_cloud_init_keys_and_the_simulator_runs_the_same_modules():
    assert cloud_config.COS_KEYS <= cloud_config.SCHEMA_KEYS
    product = [m for m, _keys in cloud_config.COS_MODULE_KEYS]
    simulator = [m for _stage, modules in image.COS_MODULES for m in modules]
    assert product == simulator
