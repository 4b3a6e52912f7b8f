"""Resource handlers, one file per resource.

A handler is registered for a discovery method id with ``@handles("compute.disks.get")``
and receives a ``Ctx`` (validated path params, query, body). It returns the JSON answer
(a dict) or raises ``errors.ApiError``. Mutations return ``ctx.op(...)``. Adding a resource
means adding one module here; ``load()`` imports them all.
"""

from __future__ import annotations

import base64
import importlib
import pkgutil
import re

from .. import errors

HANDLERS = {}
_loaded = False


def handles(*method_ids):
    def deco(fn):
        for mid in method_ids:
            HANDLERS[mid] = fn
        return fn

    return deco


def load():
    global _loaded
    if _loaded:
        return
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    _loaded = True


# -- list helpers ----------------------------------------------------------------------------
_TERM = re.compile(
    r"""\(?\s*([A-Za-z_][\w.]*)\s*(=|!=|:|\beq\b|\bne\b)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s()]+)\s*\)?""",
)


def _field(res, dotted):
    cur = res
    for part in dotted.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _matches(res, field, op, raw):
    value = raw[1:-1] if raw[:1] in "\"'" else raw
    actual = _field(res, field)
    if isinstance(actual, bool):
        actual = "true" if actual else "false"
    elif actual is not None and not isinstance(actual, str):
        actual = str(actual)
    if op in ("eq", "ne"):
        hit = actual is not None and re.fullmatch(value, actual) is not None
        return hit if op == "eq" else not hit
    if op == ":":
        return actual is not None and (value == "*" or value in actual)
    if value.endswith("*") and op in ("=", "!="):
        hit = actual is not None and actual.startswith(value[:-1])
    else:
        hit = actual == value
    return hit if op == "=" else not hit


def apply_filter(items, expr):
    """The subset of the list filter syntax modules use: ``a = b``, ``a != b``, ``a eq re``,
    ``a ne re``, ``labels.k = v``, terms joined by spaces or AND (all must hold)."""
    if not expr:
        return items
    text = re.sub(r"\bAND\b", " ", expr)
    terms = _TERM.findall(text)
    leftover = _TERM.sub("", text).strip()
    if not terms or leftover:
        raise errors.invalid(f"Invalid list filter expression '{expr}'.")
    return [r for r in items if all(_matches(r, f, op, v) for f, op, v in terms)]


def _token(offset):
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(token):
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise errors.invalid("Invalid value for field 'pageToken': '%s'." % token) from None


def page(ctx, items):
    """Filter, order and page a list: returns (items_of_page, nextPageToken or None)."""
    q = ctx.query
    items = apply_filter(items, q.get("filter"))
    order = q.get("orderBy")
    if order:
        key, _, direction = order.partition(" ")
        if key not in ("name", "creationTimestamp"):
            raise errors.invalid(f"Invalid value for field 'orderBy': '{order}'.")
        items = sorted(items, key=lambda r: r.get(key, ""), reverse=direction.strip().lower() == "desc")
    start = _offset(q.get("pageToken"))
    size = q.get("maxResults") or 500
    size = min(int(size), 500)
    chunk = items[start:start + size]
    nxt = _token(start + size) if start + size < len(items) else None
    return chunk, nxt


def list_response(ctx, kind, items, self_path, *, sort=True):
    from .. import util

    if sort:
        items = sorted(items, key=lambda r: r.get("name", ""))
    chunk, nxt = page(ctx, items)
    out = {"kind": kind, "id": self_path, "items": chunk, "selfLink": util.link(self_path)}
    if not chunk:
        del out["items"]
    if nxt:
        out["nextPageToken"] = nxt
    return out


def aggregated_response(ctx, kind, key, scopes, self_path):
    """``scopes`` is [(scope, [items])]; every known scope appears, empty ones with a warning."""
    from .. import util

    out_items = {}
    for scope, items in sorted(scopes, key=lambda s: s[0]):
        items = apply_filter(sorted(items, key=lambda r: r.get("name", "")), ctx.query.get("filter"))
        if items:
            out_items[scope] = {key: items}
        else:
            out_items[scope] = {"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": f"There are no results for scope '{scope}' on this page.",
                "data": [{"key": "scope", "value": scope}],
            }}
    return {"kind": kind, "id": self_path, "items": out_items, "selfLink": util.link(self_path)}
