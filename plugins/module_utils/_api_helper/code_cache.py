# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""Compiled code of the collection's module_utils, kept across tasks on the API helper path.

AnsiballZ ships a module's module_utils as sources in a zip that lives for one task, so Python
compiles every file a task imports again in every task (it keeps no ``__pycache__`` for a zip).
For the heavier modules that compiling is most of what a task costs beyond ``ansible.builtin.ping``.
With ``GCE_COS_API_HELPER`` on, ``use_code_cache()`` (called by each module before it imports its
module_utils) keeps the code objects, marshalled as CPython does in ``__pycache__``, in the
user's private directory (the API helper's: 0700, checked), one 0600 file per source. A file is
named by the SHA-256 of the source it was compiled from, with the interpreter's bytecode magic
number and optimization level, so a changed source, another collection version or another Python
never gets stale code: it compiles as before and stores its own entry. The source is still read
from the task's own zip every time; only the compiling is saved. Anything unexpected (no private
directory, an unreadable or corrupt entry, a full disk) makes that import compile as it would
without the cache. ``GCE_COS_CODE_CACHE=0`` turns the cache off. Without the switch, or for
modules not loaded from a zip (tests, ansible-test on disk), nothing changes. Only the standard
library is used here: this runs before anything else.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import _imp
import contextlib
import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import stat
import sys
import types
import zipimport

from ansible_collections.gce.cos.plugins.module_utils._api_helper.api_helper_protocol import _private, private_directory

SWITCH_ENV = "GCE_COS_API_HELPER"
TRUE_VALUES = ("1", "true", "yes", "on")
# Set to 0/false/no/off, the helper path compiles as the plain path does (PYTHONDONTWRITEBYTECODE is
# about __pycache__ next to sources and does not govern this cache).
CACHE_ENV = "GCE_COS_CODE_CACHE"
FALSE_VALUES = ("0", "false", "no", "off")
PREFIX = "ansible_collections.gce.cos.plugins.module_utils"
SUBDIR = "code"
# Entries beyond this many are pruned, oldest first (a collection version is about 70 files).
MAX_ENTRIES = 600
KEEP_ENTRIES = 400

# Names imported in this process, by how their code was obtained (read by tests and the bench).
FROM_CACHE = []
COMPILED = []


def cache_key(name, source):
    digest = hashlib.sha256(importlib.util.MAGIC_NUMBER)
    digest.update(b"\0%d\0%s\0" % (sys.flags.optimize, name.encode("utf-8")))
    digest.update(source.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _read_entry(path, uid):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_mode & 0o077:
            return None
        data = handle.read()
    try:
        code = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return code if isinstance(code, types.CodeType) else None


def _write_entry(directory, path, code):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(marshal.dumps(code))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    _prune(directory)


def _prune(directory):
    try:
        names = os.listdir(directory)
        if len(names) <= MAX_ENTRIES:
            return
        entries = []
        for name in names:
            path = os.path.join(directory, name)
            entries.append((os.lstat(path).st_mtime, path))
        for _mtime, path in sorted(entries)[: len(entries) - KEEP_ENTRIES]:
            os.unlink(path)
    except OSError:
        pass


def code_for(directory, name, source, filename):
    """The code object of source (module name, file name for tracebacks): from the cache or compiled.

    directory None (not private): compiled, and not stored.
    """
    if directory is None:
        COMPILED.append(name)
        return compile(source, filename, "exec", dont_inherit=True)
    path = os.path.join(directory, cache_key(name, source))
    code = _read_entry(path, os.getuid())
    if code is not None:
        FROM_CACHE.append(name)
        # As importlib does for a __pycache__ entry: tracebacks name this task's file.
        fix = getattr(_imp, "_fix_co_filename", None)
        if fix is not None:
            fix(code, filename)
        return code
    code = compile(source, filename, "exec", dont_inherit=True)
    COMPILED.append(name)
    _write_entry(directory, path, code)
    return code


class CachedCodeLoader:
    """Loads one module of a zip (wrapping its zipimporter): the same source, its code possibly from the cache."""

    def __init__(self, importer, directory, filename):
        self._importer = importer
        self._directory = directory
        self._filename = filename

    def __getattr__(self, attr):
        return getattr(self._importer, attr)

    def get_filename(self, name):
        # zipimporter.get_filename compiles the module to learn its path; the path is known here.
        return self._filename

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        source = self._importer.get_source(name)
        if source is None:
            self._importer.exec_module(module)
            return
        exec(code_for(self._directory, name, source, self._filename), module.__dict__)


class CodeCacheFinder:
    """Meta path finder for the collection's module_utils loaded from a zip (an AnsiballZ payload).

    It finds them as the zipimporter would, from the parent package's ``__path__`` inside the
    zip, but without zipimporter.find_spec, which compiles the module just to name its file
    (and zipimporter.exec_module compiles it again).
    """

    def __init__(self):
        self._checked = None

    @property
    def directory(self):
        """The cache directory, checked (and created) on the first import from a zip; None if not private."""
        if self._checked is None:
            self._checked = False
            try:
                base, problem = private_directory()
                path = os.path.join(base, SUBDIR)
                if problem is None and _private(path, os.getuid()) is None:
                    self._checked = path
            except OSError:
                pass
        return self._checked or None

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(PREFIX + ".") or not path:
            return None
        tail = name.rpartition(".")[2]
        for entry in path:
            importer = sys.path_importer_cache.get(entry)
            if importer is None and ".zip" in entry:
                try:
                    importer = zipimport.zipimporter(entry)
                except zipimport.ZipImportError:
                    importer = None
            if not isinstance(importer, zipimport.zipimporter):
                return None
            try:
                package = importer.is_package(name)
            except zipimport.ZipImportError:
                continue
            location = os.path.join(importer.archive, importer.prefix, tail)
            if package:
                filename = os.path.join(location, "__init__.py")
                search = [location]
            else:
                filename = location + ".py"
                search = None
            loader = CachedCodeLoader(importer, self.directory, filename)
            return importlib.util.spec_from_file_location(
                name, filename, loader=loader, submodule_search_locations=search
            )
        return None

    def invalidate_caches(self):
        pass


def use_code_cache(environ=None):
    """With the helper switch on, load the collection's module_utils through the code cache.

    Returns True when the cache is in use: the switch is on and GCE_COS_CODE_CACHE does not turn
    the cache off (the private directory is checked when
    the first module_utils file is loaded from a zip; if it is not private, nothing is cached).
    Safe to call more than once.
    """
    environ = environ if environ is not None else os.environ
    if environ.get(SWITCH_ENV, "").strip().lower() not in TRUE_VALUES:
        return False
    if environ.get(CACHE_ENV, "").strip().lower() in FALSE_VALUES:
        return False
    if not any(isinstance(finder, CodeCacheFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, CodeCacheFinder())
    return True
