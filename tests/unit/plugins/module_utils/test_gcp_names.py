from ansible_collections.gce.cos.plugins.module_utils._gcp import gcp_names as names


def test_relative_strips_scheme_host_and_version():
    url = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/web"
    assert names.relative(url) == "projects/p/zones/us-central1-a/instances/web"
    assert names.relative("https://compute.googleapis.com/compute/beta/projects/p/global/networks/d") == (
        "projects/p/global/networks/d"
    )
    assert names.relative("http://127.0.0.1:8080/compute/v1/projects/p/zones/z/disks/d") == "projects/p/zones/z/disks/d"
    assert names.relative("projects/p/zones/z/disks/d") == "projects/p/zones/z/disks/d"


def test_qualify_names_partial_paths_and_urls_to_one_form():
    assert names.qualify("default", "p", collection="global/networks") == "projects/p/global/networks/default"
    assert names.qualify("global/networks/default", "p") == "projects/p/global/networks/default"
    assert names.qualify("data", "p", zone="europe-west1-b", collection="zones/{zone}/disks") == (
        "projects/p/zones/europe-west1-b/disks/data"
    )
    full = "https://www.googleapis.com/compute/v1/projects/other/global/networks/vpc"
    assert names.qualify(full, "p", collection="global/networks") == "projects/other/global/networks/vpc"


def test_same_and_basename():
    assert names.same("https://www.googleapis.com/compute/v1/projects/p/zones/z/disks/d", "projects/p/zones/z/disks/d")
    assert not names.same("projects/p/zones/z/disks/d", "projects/p/zones/z/disks/e")
    assert names.basename("https://www.googleapis.com/compute/v1/projects/p/zones/us-east1-b") == "us-east1-b"
    assert names.self_link("projects/p/zones/z") == "https://www.googleapis.com/compute/v1/projects/p/zones/z"


def test_name_and_zone_errors_name_field_value_and_fix():
    assert names.name_error("name", "web-1") is None
    msg = names.name_error("name", "Web_1")
    assert msg.startswith("name: 'Web_1' is not a valid resource name") and "RFC1035" in msg
    assert names.name_error("name", "a" * 64) is not None
    assert names.name_error("name", "web-") is not None
    assert names.zone_error("zone", "us-central1-a") is None
    assert "us-central1-a" in names.zone_error("zone", "us-central1")
    assert names.region_of("europe-west4-a") == "europe-west4"


def test_label_errors():
    assert names.labels_errors("labels", {"app": "web", "tier": ""}) == []
    errors = names.labels_errors("labels", {"App": "x", "ok": "Bad Value"})
    assert any("key 'App'" in e for e in errors)
    assert any("labels.ok: value 'Bad Value'" in e for e in errors)
