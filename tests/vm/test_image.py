"""The cached COS-lookalike image: its content, and the atomic, locked, cached build."""

import os
import threading
import time

import pytest

from localgce.vm import image


def test_image_has_the_cos_units_and_config(rootfs):
    assert rootfs == os.path.join(image.CACHE_DIR, "image-%s" % image.image_hash(), "rootfs")
    with open(os.path.join(rootfs, "etc/cloud/cloud.cfg.d/90_gce_cos.cfg")) as f:
        cfg = f.read()
    # COS's cloud-init: the GCE datasource (user-data from the metadata server), distro cos, COS's modules.
    assert "datasource_list: [GCE]" in cfg and "distro: cos" in cfg and "locale: false" in cfg
    assert "cloud_config_modules:\n  - runcmd\n" in cfg and "mounts" not in cfg
    with open(os.path.join(rootfs, image.GCE_DATASOURCE_FILE)) as f:
        assert f.read().endswith(image.GCE_DATASOURCE_PATCH)
    for unit, target in (("gce-cos-cgroup-rw.service", "sysinit.target"),
                         ("gce-cos-stateful.service", "local-fs.target")):
        assert os.path.islink(os.path.join(rootfs, "etc/systemd/system/%s.wants/%s" % (target, unit)))
    assert os.path.exists(os.path.join(rootfs, "etc/systemd/system/gcr-online.target"))
    assert os.access(os.path.join(rootfs, "usr/bin/docker-credential-gcr"), os.X_OK)
    assert os.path.getsize(os.path.join(rootfs, "etc/machine-id")) == 0
    assert os.listdir(os.path.join(rootfs, "var")) == []  # /var comes from each instance
    for pkg in ("cloud-init", "docker.io", "python3-cffi-backend", "systemd-sysv"):
        assert os.path.exists(os.path.join(rootfs, "usr/share/doc", pkg)), pkg
    # A second build is a cache hit on the same path.
    assert image.build(log=lambda m: pytest.fail("rebuilt: " + m)) == rootfs


def test_recipe_hash_covers_the_in_image_files(monkeypatch):
    before = image.image_hash()
    monkeypatch.setitem(image.FILES, "/etc/extra", (0o644, "x"))
    assert image.image_hash() != before


def test_concurrent_builders_build_once_and_atomically(monkeypatch, tmp_path):
    monkeypatch.setattr(image, "CACHE_DIR", str(tmp_path))
    calls, results = [], []

    def builder(d):
        calls.append(d)
        time.sleep(0.2)  # give the other thread time to hit the lock
        with open(os.path.join(d, "done"), "w"):
            pass

    threads = [threading.Thread(target=lambda: results.append(image._stage("t", "h1", builder)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert results == [str(tmp_path / "t-h1")] * 3
    assert os.path.exists(tmp_path / "t-h1" / "done")

    def failing(d):
        with open(os.path.join(d, "half"), "w"):
            pass
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        image._stage("t", "h2", failing)
    assert sorted(p for p in os.listdir(tmp_path) if not p.startswith(".t-")) == ["t-h1"]
    assert [p for p in os.listdir(tmp_path) if p.startswith(".tmp")] == []
