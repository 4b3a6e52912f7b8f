"""Injected faults: the control API's lists of requests to answer wrongly (``/_localgce/faults``
for the Compute API, ``/_localgce/guest-faults`` for the metadata server; see control.py)."""

from __future__ import annotations

import re
import threading


class Faults:
    """Faults, each matching an HTTP method (``method``, any when None) and a regex on the path
    (``path``), ``count`` times; ``hits`` counts the requests it answered. What a fault does
    (status, operation_error, delay) is read by its user. ``validate(spec)`` checks a new fault and
    may complete it. ``default_count`` is the count of a fault that gives none; with
    ``until_cleared``, a count below 1 means until cleared, otherwise such a fault answers once."""

    def __init__(self, validate, *, default_count, until_cleared):
        self.lock = threading.Lock()
        self.items = []
        self._validate = validate
        self._default_count = default_count
        self._until_cleared = until_cleared

    def add(self, spec):
        spec = dict(spec)
        self._validate(spec)
        spec.setdefault("method", None)
        spec.setdefault("path", ".*")
        spec["count"] = int(spec.get("count", self._default_count))
        spec["hits"] = 0
        re.compile(spec["path"])
        with self.lock:
            self.items.append(spec)
        return spec

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def take(self, method, path, where=lambda fault: True):
        """Consume one fault that matches ``method``, ``path`` and ``where(fault)``, or return None."""
        with self.lock:
            for f in self.items:
                if not where(f) or (f["method"] and f["method"].upper() != method):
                    continue
                if not re.search(f["path"], path):
                    continue
                f["hits"] += 1
                if f["count"] > 0 or not self._until_cleared:
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.items.remove(f)
                return f
        return None

    def clear(self):
        with self.lock:
            self.items.clear()
