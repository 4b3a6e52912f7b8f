"""Tiny container images for tests and demos, built from the host's busybox-static.

busybox_rootfs_tar() gives a tar for `docker import` (inside a VM or on any dockerd):
/bin/busybox with sh and httpd links, and /www/index.html holding `text`. Run it with
`busybox httpd -f -p PORT -h /www`.
"""

import io
import os
import shutil
import tarfile

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def busybox_path():
    for path in BUSYBOX_CANDIDATES:
        if os.path.exists(path):
            return path
    found = shutil.which("busybox")
    if found:
        return found
    raise FileNotFoundError("busybox not found (Debian package busybox-static)")


def busybox_rootfs_tar(text="hello from busybox\n", extra_files=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)

        def add_file(name, data, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "www", "tmp", "data"):
            add_dir(d)
        with open(busybox_path(), "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for applet in ("sh", "httpd", "cat", "echo", "ls", "sleep", "wget"):
            info = tarfile.TarInfo("bin/" + applet)
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
        add_file("www/index.html", text.encode())
        for name, data in (extra_files or {}).items():
            add_file(name.lstrip("/"), data if isinstance(data, bytes) else data.encode())
    return buf.getvalue()


def http_get_eventually(url, tries=100, pause=0.1):
    """GET url until it answers 200 (a container needs a moment to listen); return the body.

    Bounded by a count of tries, not by a wall-clock threshold."""
    import time
    import urllib.request

    last = None
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read().decode()
        except OSError as exc:
            last = exc
        time.sleep(pause)
    raise AssertionError("%s never answered: %s" % (url, last))
