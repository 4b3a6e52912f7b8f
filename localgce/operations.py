"""Asynchronous operations: PENDING -> RUNNING -> DONE, driven by a scheduler thread.

A mutating handler validates synchronously, then calls ``Operations.submit`` with callbacks:

- ``immediate()``: applied at request time (e.g. a new instance appears as PROVISIONING);
- ``running()``: applied when the operation turns RUNNING (e.g. STAGING, STOPPING);
- ``done()``: applied when it turns DONE (e.g. RUNNING, TERMINATED). It may raise ApiError,
  which fails the operation;
- ``ready()``: polled after ``done`` until true (the VM backend says the VM has started).

With delay 0, everything happens inside the request and the answer is already DONE.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import threading
import time
from collections.abc import Callable

from . import errors, util

READY_POLL = 0.05
READY_TIMEOUT = 600.0


@dataclasses.dataclass
class _Job:
    """An operation's callbacks (see the module doc) and, once done, how long ``ready`` may take."""

    path: str
    running: Callable | None
    done: Callable | None
    ready: Callable | None
    error: tuple | None  # (code, message, http status) of an injected operation error
    ready_deadline: float | None = None


class Operations:
    def __init__(self, store, delay=0.0):
        self.store = store
        self.delay = delay
        self._heap = []
        self._seq = itertools.count()
        self._jobs = {}
        self._wake = threading.Condition(threading.Lock())
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="localgce-operations", daemon=True)
        self._thread.start()

    # -- creation ------------------------------------------------------------------------
    def submit(self, *, project, scope, op_type, target_path, target_id=None, request_id=None,
               immediate=None, running=None, done=None, ready=None, fault=None, delay=None, warnings=None):
        """Create an operation. ``scope`` is 'zones/Z', 'regions/R' or 'global'."""
        store = self.store
        with store.lock:
            if request_id:
                key = f"{project}/{request_id}"
                known = store.request_ids.get(key)
                if known and store.get(known) is not None:
                    return store.get(known)
            name = util.op_name()
            path = f"projects/{project}/{scope}/operations/{name}"
            op = {
                "kind": "compute#operation",
                "id": util.new_id(),
                "name": name,
                "operationType": op_type,
                "targetLink": util.link(target_path),
                "status": "PENDING",
                "user": "localgce@localgce.iam.gserviceaccount.com",
                "progress": 0,
                "insertTime": util.now(),
                "selfLink": util.link(path),
            }
            if target_id:
                op["targetId"] = str(target_id)
            if warnings:
                op["warnings"] = list(warnings)
            if scope.startswith("zones/"):
                op["zone"] = util.link(f"projects/{project}/{scope}")
            elif scope.startswith("regions/"):
                op["region"] = util.link(f"projects/{project}/{scope}")
            error = None
            if fault and fault.get("operation_error"):
                oe = fault["operation_error"]
                error = (oe.get("code", "INTERNAL_ERROR"), oe.get("message", "Injected operation error"),
                         int(oe.get("http_status", 400)))
            if fault and fault.get("delay") is not None:
                delay = float(fault["delay"])
            if delay is None:
                delay = self.delay
            if error is None and immediate:
                immediate()
            store.put(path, op)
            if request_id:
                store.request_ids[f"{project}/{request_id}"] = path
            job = _Job(path, running, done, ready, error)
            if delay <= 0:
                self._to_running(job)
                self._to_done(job)
            else:
                now = time.monotonic()
                self._schedule(now + delay * 0.3, job, "running")
                self._schedule(now + delay, job, "done")
            return op

    def _schedule(self, when, job, step):
        with self._wake:
            heapq.heappush(self._heap, (when, next(self._seq), job, step))
            self._wake.notify()

    # -- transitions (store lock held) ---------------------------------------------------
    def _to_running(self, job):
        with self.store.lock:
            op = self.store.get(job.path)
            if op is None or op["status"] != "PENDING":
                return
            op["status"] = "RUNNING"
            op["startTime"] = util.now()
            op["progress"] = 0
            if job.error is None and job.running:
                try:
                    job.running()
                except errors.ApiError as exc:
                    job.error = exc
            self.store.changed()

    def _to_done(self, job):
        with self.store.lock:
            op = self.store.get(job.path)
            if op is None or op["status"] == "DONE":
                return
            if op["status"] == "PENDING":
                self._to_running(job)
            if job.error is None and job.done:
                try:
                    job.done()
                except errors.ApiError as exc:
                    job.error = exc
                job.done = None
            if job.error is None and job.ready:
                try:
                    ok = job.ready()
                except errors.ApiError as exc:
                    job.error, ok = exc, True
                if not ok:
                    now = time.monotonic()
                    if job.ready_deadline is None:
                        job.ready_deadline = now + READY_TIMEOUT
                    if now < job.ready_deadline:
                        self._schedule(now + READY_POLL, job, "done")
                        return
                    job.error = errors.ApiError(503, "RESOURCE_NOT_READY", "The VM did not become ready in time.")
            self._finish(op, job.error)

    def _finish(self, op, error):
        op["status"] = "DONE"
        op["progress"] = 100
        op["endTime"] = util.now()
        if error is not None:
            if isinstance(error, errors.ApiError):
                op["error"] = error.op_error()
                op["httpErrorStatusCode"] = error.status
                op["httpErrorMessage"] = errors.HTTP_REASON_PHRASE.get(error.status, "ERROR")
            else:
                code, message, status = error
                op["error"] = {"errors": [{"code": code, "message": message}]}
                op["httpErrorStatusCode"] = status
                op["httpErrorMessage"] = errors.HTTP_REASON_PHRASE.get(status, "ERROR")
        self.store.changed()

    # -- scheduler -----------------------------------------------------------------------
    def _loop(self):
        while True:
            with self._wake:
                while not self._stop and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stop:
                    return
                _, _, job, step = heapq.heappop(self._heap)
            try:
                if step == "running":
                    self._to_running(job)
                else:
                    self._to_done(job)
            except Exception:
                import traceback

                traceback.print_exc()
                with self.store.lock:
                    op = self.store.get(job.path)
                    if op is not None and op["status"] != "DONE":
                        self._finish(op, errors.ApiError(500, "INTERNAL_ERROR", "localgce internal error"))

    def drain(self):
        """Finish every pending operation now (used before saving state and on reset)."""
        while True:
            with self._wake:
                if not self._heap:
                    return
                _, _, job, step = heapq.heappop(self._heap)
            job.ready = None  # do not wait for a backend while shutting down
            if step == "running":
                self._to_running(job)
            else:
                self._to_done(job)

    def clear(self):
        with self._wake:
            self._heap.clear()

    def stop(self):
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=2)

    # -- waiting -------------------------------------------------------------------------
    def wait(self, path, timeout):
        """Long-poll: return the operation once DONE, or after ``timeout`` seconds."""
        store = self.store
        deadline = time.monotonic() + timeout
        with store.lock:
            while True:
                op = store.must(path)
                remaining = deadline - time.monotonic()
                if op["status"] == "DONE" or remaining <= 0:
                    return op
                store.cond.wait(remaining)
