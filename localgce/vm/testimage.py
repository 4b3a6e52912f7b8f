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
