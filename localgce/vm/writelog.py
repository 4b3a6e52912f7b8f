"""A disk that keeps only what was flushed: the simulator's power-cut model (FUSE, userspace).

    python -m localgce.vm.writelog MOUNTPOINT FSNAME NAME=IMAGE [NAME=IMAGE ...]

serves MOUNTPOINT/NAME, one file per disk image, with the image's size. A write is kept in a
pending log in this process's memory (4 KiB pages, plus the zeroed/discarded ranges); reads
see it. An fsync of the file - what the loop driver issues when the guest's filesystem sends
a FLUSH or FUA (ext4's journal commits, `sync DEVICE`, mkfs's final flush) - applies the log
to the image and fsyncs the image. Unmounting (an orderly power off) applies it too.

A power cut (machine.py) SIGKILLs this process: its pending log is gone, and the kernel aborts
the FUSE connection as the process's /dev/fuse descriptor closes (fuse_dev_release), so the
write-back of the dying VM's filesystems can no longer reach the image. The image then holds
exactly what had been flushed: the "replay the write log to its last flush" model.

The loop device sits on MOUNTPOINT/NAME (machine.py); one process and one mount per VM.
"""

import ctypes
import errno
import os
import stat
import sys
import time

PAGE = 4096
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02
FALLOC_FL_ZERO_RANGE = 0x10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong]


class Disk:
    """One image file and its pending (unflushed) writes."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR)
        self.size = os.fstat(self.fd).st_size
        self.pages = {}   # page index -> bytearray(PAGE), newest content
        self.zeroed = []  # [(first page, end page)] zeroed/discarded since the last flush

    def _in_zeroed(self, index):
        return any(a <= index < b for a, b in self.zeroed)

    def _page(self, index):
        page = self.pages.get(index)
        if page is not None:
            return page
        if self._in_zeroed(index):
            return bytearray(PAGE)
        data = os.pread(self.fd, PAGE, index * PAGE)
        return bytearray(data.ljust(PAGE, b"\0"))

    def read(self, size, offset):
        size = max(0, min(size, self.size - offset))
        if not self.pages and not self.zeroed:
            return os.pread(self.fd, size, offset)
        out = bytearray()
        end = offset + size
        pos = offset
        while pos < end:
            index, skip = divmod(pos, PAGE)
            n = min(PAGE - skip, end - pos)
            out += self._page(index)[skip:skip + n]
            pos += n
        return bytes(out)

    def write(self, data, offset):
        if offset + len(data) > self.size:
            raise OSError(errno.ENOSPC, "write past the end of the disk")
        pos, done = offset, 0
        while done < len(data):
            index, skip = divmod(pos, PAGE)
            n = min(PAGE - skip, len(data) - done)
            if n == PAGE:
                page = bytearray(data[done:done + n])
            else:
                page = self._page(index)
                page[skip:skip + n] = data[done:done + n]
            self.pages[index] = page
            pos += n
            done += n
        return len(data)

    def zero(self, offset, length):
        """Discard or zero a range (reads give zeros afterwards, as on a loop device over a file)."""
        end = min(offset + length, self.size)
        first, last = -(-offset // PAGE), end // PAGE  # whole pages inside
        if first < last:
            for index in [i for i in self.pages if first <= i < last]:
                del self.pages[index]
            self.zeroed.append((first, last))
            for edge_from, edge_to in ((offset, first * PAGE), (last * PAGE, end)):
                if edge_from < edge_to:
                    self.write(bytes(edge_to - edge_from), edge_from)
        elif offset < end:
            self.write(bytes(end - offset), offset)

    def flush(self):
        """Apply the pending log to the image, in order: zeroed ranges, then pages; fsync."""
        for a, b in self.zeroed:
            off, length = a * PAGE, (b - a) * PAGE
            if _libc.fallocate(self.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length) != 0:
                chunk = bytes(1 << 20)
                pos = off
                while pos < off + length:
                    n = min(len(chunk), off + length - pos)
                    os.pwrite(self.fd, chunk[:n], pos)
                    pos += n
        for index in sorted(self.pages):
            os.pwrite(self.fd, self.pages[index], index * PAGE)
        os.fsync(self.fd)
        self.pages.clear()
        self.zeroed.clear()


def serve(mountpoint, fsname, images):
    import mfusepy as fuse

    disks = {"/" + name: Disk(path) for name, path in images.items()}
    now = time.time()

    class WriteLog(fuse.Operations):
        use_ns = True

        def _disk(self, path):
            disk = disks.get(path)
            if disk is None:
                raise fuse.FuseOSError(errno.ENOENT)
            return disk

        def getattr(self, path, fh=None):
            if path == "/":
                return {"st_mode": stat.S_IFDIR | 0o700, "st_nlink": 2, "st_mtime": int(now * 1e9)}
            disk = self._disk(path)
            return {"st_mode": stat.S_IFREG | 0o600, "st_nlink": 1, "st_size": disk.size,
                    "st_mtime": int(now * 1e9), "st_blocks": disk.size // 512}

        def readdir(self, path, fh):
            return [".", ".."] + [p[1:] for p in disks]

        def open(self, path, flags):
            self._disk(path)
            return 0

        def read(self, path, size, offset, fh):
            return self._disk(path).read(size, offset)

        def write(self, path, data, offset, fh):
            try:
                return self._disk(path).write(data, offset)
            except OSError as e:
                raise fuse.FuseOSError(e.errno or errno.EIO) from None

        def truncate(self, path, length, fh=None):
            if length != self._disk(path).size:
                raise fuse.FuseOSError(errno.EPERM)
            return 0

        def fallocate(self, path, mode, offset, size, fh):
            disk = self._disk(path)
            if mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE):
                disk.zero(offset, size)
            return 0

        def fsync(self, path, datasync, fh):
            disk = self._disk(path)
            pages = len(disk.pages)
            disk.flush()
            # One line per flush: tests wait on it (e.g. for the guest's next journal commit).
            print("flush %s %d" % (path[1:], pages), file=sys.stderr, flush=True)
            return 0

        def flush(self, path, fh):  # close(): not a durability point
            return 0

        def destroy(self, path):  # unmounted: an orderly power off keeps everything
            for disk in disks.values():
                disk.flush()

    fuse.FUSE(WriteLog(), mountpoint, foreground=True, nothreads=True, fsname=fsname)


def main(argv):
    mountpoint, fsname = argv[0], argv[1]
    images = dict(arg.split("=", 1) for arg in argv[2:])
    serve(mountpoint, fsname, images)


if __name__ == "__main__":
    main(sys.argv[1:])
