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

from .. import catalog, errors, util

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
_TERM = r"""([A-Za-z_][\w.-]*)\s*(=|!=|:|\beq\b|\bne\b)\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^\s()]+)"""
_TOKEN = re.compile(r"\s*(?:(\()|(\))|\b(AND|OR)\b|" + _TERM + r")")


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


def _tokens(expr):
    out, pos, text = [], 0, expr.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise errors.invalid(f"Invalid list filter expression '{expr}'.")
        lpar, rpar, word, field, op, value = m.groups()
        out.append("(" if lpar else ")" if rpar else word if word else (field, op, value))
        pos = m.end()
    return out


def _parse_filter(expr):
    """A predicate for the list filter syntax: ``field OP value`` terms (OP one of =, !=, :, eq, ne;
    ``labels.k = v``, ``labels.k:*``, ``name = web-*``), grouped with parentheses, joined by AND
    (also implied by a space) or OR."""
    toks = _tokens(expr)
    pos = 0

    def bad():
        return errors.invalid(f"Invalid list filter expression '{expr}'.")

    def primary():
        nonlocal pos
        if pos >= len(toks):
            raise bad()
        tok = toks[pos]
        pos += 1
        if tok == "(":
            pred = disjunction()
            if pos >= len(toks) or toks[pos] != ")":
                raise bad()
            pos += 1
            return pred
        if isinstance(tok, tuple):
            field, op, value = tok
            return lambda r: _matches(r, field, op, value)
        raise bad()

    def conjunction():
        nonlocal pos
        preds = [primary()]
        while pos < len(toks) and toks[pos] not in (")", "OR"):
            if toks[pos] == "AND":
                pos += 1
            preds.append(primary())
        return lambda r: all(p(r) for p in preds)

    def disjunction():
        nonlocal pos
        preds = [conjunction()]
        while pos < len(toks) and toks[pos] == "OR":
            pos += 1
            preds.append(conjunction())
        return lambda r: any(p(r) for p in preds)

    pred = disjunction()
    if pos != len(toks):
        raise bad()
    return pred


def apply_filter(items, expr):
    """The items a list filter keeps (see ``_parse_filter``); a malformed filter is a 400."""
    if not expr or not expr.strip():
        return items
    pred = _parse_filter(expr)
    return [r for r in items if pred(r)]


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
    """``scopes`` is [(scope, [items])]. Items are filtered, ordered by scope then name, and paged
    across scopes as the real API does (``maxResults``, at most 500, and ``pageToken``); every
    known scope appears on each page, those without items on it with a warning."""
    ordered = sorted(scopes, key=lambda s: s[0])
    flat = []
    for scope, items in ordered:
        kept = apply_filter(sorted(items, key=lambda r: r.get("name", "")), ctx.query.get("filter"))
        flat.extend((scope, item) for item in kept)
    start = _offset(ctx.query.get("pageToken"))
    size = min(int(ctx.query.get("maxResults") or 500), 500)
    on_page = {}
    for scope, item in flat[start:start + size]:
        on_page.setdefault(scope, []).append(item)
    out_items = {}
    for scope, _items in ordered:
        if scope in on_page:
            out_items[scope] = {key: on_page[scope]}
        else:
            out_items[scope] = {"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": f"There are no results for scope '{scope}' on this page.",
                "data": [{"key": "scope", "value": scope}],
            }}
    out = {"kind": kind, "id": self_path, "items": out_items, "selfLink": util.link(self_path)}
    if start + size < len(flat):
        out["nextPageToken"] = _token(start + size)
    return out


# -- the handlers stored resources share ------------------------------------------------------
_SCOPE_PARAM = {"zones": "zone", "regions": "region"}


class Collection:
    """What the stored resource types do alike: the record's path from the request, insert's
    record, get, list, aggregatedList, and a delete refused while the resource has a user. A module
    registers the methods it needs as its handlers, e.g. ``get = handles("compute.disks.get")(DISKS.get)``.

    ``scopes`` are where the type lives: ``("global",)``, ``("zones",)``, ``("regions",)``, or
    ``("global", "regions")`` (healthChecks and regionHealthChecks: regional when the request names a
    region). ``users(store, project, record)`` lists what uses a record, as the delete error names it."""

    def __init__(self, collection, param, *, kind, scopes, aggregated_kind=None, users=None):
        self.collection = collection  # "healthChecks"
        self.param = param  # the request's name parameter, "healthCheck"
        self.kind = kind  # "compute#healthCheck"
        self.scopes = scopes
        self.aggregated_kind = aggregated_kind or kind + "AggregatedList"
        self.users = users
        # The API's name of the type in errors: "health_check".
        self.label = re.sub(r"(?<!^)([A-Z])", r"_\1", param).lower()

    def scope(self, ctx):
        """The request's zone or region where the type has one, else 'global'."""
        for scope in ("zones", "regions"):
            if scope in self.scopes and _SCOPE_PARAM[scope] in ctx.params:
                return f"{scope}/{ctx.params[_SCOPE_PARAM[scope]]}"
        return "global"

    def path(self, ctx, name=None):
        return f"projects/{ctx.project}/{self.scope(ctx)}/{self.collection}/{name or ctx.params[self.param]}"

    def insert(self, ctx, fields):
        """Create the record the body names, with ``fields()`` (the type's own fields, checked; called
        once the name is known to be free, as the API answers a duplicate before a bad field)."""
        body = ctx.body
        path = self.path(ctx, body["name"])
        if ctx.store.get(path) is not None:
            raise errors.already_exists(path)
        record = {"kind": self.kind, "id": util.new_id(), "creationTimestamp": util.now(), "name": body["name"],
                  "selfLink": util.link(path), **fields()}
        if body.get("description"):
            record["description"] = body["description"]
        if "region" in ctx.params:
            record["region"] = util.link(f"projects/{ctx.project}/regions/{ctx.params['region']}")
        return ctx.op("insert", path, scope=self.scope(ctx), target_id=record["id"],
                      immediate=lambda: ctx.store.put(path, record))

    def must(self, ctx):
        """(path, record) of the record the request names; a 404 when there is none."""
        path = self.path(ctx)
        return path, ctx.store.must(path)

    def op(self, ctx, op_type, record, **callbacks):
        """The operation of a request on ``record`` (see ``Ctx.op``)."""
        return ctx.op(op_type, util.strip_url(record["selfLink"]), scope=self.scope(ctx), target_id=record["id"],
                      **callbacks)

    def get(self, ctx):
        return ctx.store.must(self.path(ctx))

    def list_(self, ctx):
        coll = f"projects/{ctx.project}/{self.scope(ctx)}/{self.collection}"
        return list_response(ctx, self.kind + "List", ctx.store.list(coll), coll)

    def aggregated(self, ctx):
        """Every scope the type lives in, with its records: 'global', then each zone or region."""
        found = dict(ctx.store.colls_matching(ctx.project, self.collection))
        names = ["global"] if "global" in self.scopes else []
        names += [f"zones/{z}" for z in catalog.ZONES] if "zones" in self.scopes else []
        names += [f"regions/{r}" for r in catalog.REGIONS] if "regions" in self.scopes else []
        return aggregated_response(ctx, self.aggregated_kind, self.collection,
                                   [(name, found.get(name, [])) for name in names],
                                   f"projects/{ctx.project}/aggregated/{self.collection}")

    def delete(self, ctx):
        path = self.path(ctx)
        record = ctx.store.must(path)
        used = self.users(ctx.store, ctx.project, record) if self.users else []
        if used:
            raise errors.in_use(path, util.strip_url(used[0]), self.label)
        return ctx.op("delete", path, scope=self.scope(ctx), target_id=record["id"],
                      done=lambda: ctx.store.delete(path))
