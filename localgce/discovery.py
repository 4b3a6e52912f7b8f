"""Compute v1 discovery document: request routing and generic validation.

Everything the document already says (paths, parameters, field names, types, enums, name
patterns, required fields) is checked here, so resource handlers only hold semantics.
The document (about 5 MB) parses in well under 0.1 s, so it is loaded lazily, once.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import threading

from . import errors

SERVICE_PREFIX = "/compute/v1/"

# Parameters every Google API accepts besides the method's own.
STANDARD_QUERY = {
    "$alt",
    "alt",
    "$.xgafv",
    "access_token",
    "callback",
    "fields",
    "key",
    "oauth_token",
    "prettyPrint",
    "quotaUser",
    "uploadType",
    "upload_protocol",
    "userIp",
    "$fields",
    "$prettyPrint",
    "$callback",
}

# Query parameters the live API takes that the shipped document lacks: every paged list
# method takes returnPartialSuccess (gcloud's generated client sends it on each of them).
PAGED_LIST_QUERY = {"returnPartialSuccess": {"type": "boolean", "location": "query"}}
# How Google's front end reads a boolean in a query string (gcloud sends "True").
QUERY_BOOLEANS = {"true": True, "True": True, "TRUE": True, "1": True,
                  "false": False, "False": False, "FALSE": False, "0": False}

_INT_RE = re.compile(r"-?[0-9]+")
_UINT_RE = re.compile(r"[0-9]+")
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def find_document():
    env = os.environ.get("LOCALGCE_DISCOVERY")
    if env:
        return env
    # Locate the copy google-api-python-client ships, without importing that package.
    spec = importlib.util.find_spec("googleapiclient")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("set LOCALGCE_DISCOVERY to compute.v1.json (google-api-python-client ships it)")
    base = next(iter(spec.submodule_search_locations))
    return os.path.join(base, "discovery_cache", "documents", "compute.v1.json")


def snake(name):
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class Method:
    __slots__ = ("http_method", "id", "params", "path", "raw", "request_ref", "response_ref", "segments")

    def __init__(self, raw):
        self.raw = raw
        self.id = raw["id"]
        self.http_method = raw["httpMethod"]
        self.path = raw.get("flatPath") or raw["path"]
        self.segments = self.path.split("/")
        self.params = raw.get("parameters", {})
        if "pageToken" in self.params:
            self.params = {**PAGED_LIST_QUERY, **self.params}
        self.request_ref = (raw.get("request") or {}).get("$ref")
        self.response_ref = (raw.get("response") or {}).get("$ref")


class Discovery:
    def __init__(self, path=None):
        self.path = path or find_document()
        with open(self.path, "rb") as fh:
            doc = json.load(fh)
        self.schemas = doc["schemas"]
        self.methods = {}
        # Routing trie: {http_method: node}; node = {"lit": {seg: node}, "var": (name, node), "m": Method}
        self._trie = {}
        self._collect(doc.get("resources", {}))
        self._pattern_cache = {}

    def _collect(self, resources):
        for res in resources.values():
            for raw in res.get("methods", {}).values():
                m = Method(raw)
                self.methods[m.id] = m
                node = self._trie.setdefault(m.http_method, {})
                for seg in m.segments:
                    if seg.startswith("{") and seg.endswith("}"):
                        name = seg[1:-1].lstrip("+")
                        var = node.setdefault("var", {})
                        node = var.setdefault(name, {})
                    else:
                        node = node.setdefault("lit", {}).setdefault(seg, {})
                node["m"] = m
            self._collect(res.get("resources", {}))

    # -- routing -------------------------------------------------------------------------
    def match(self, http_method, rel_path):
        """Return (Method, path_params) or None. Literal segments win over variables."""
        root = self._trie.get(http_method)
        if root is None:
            return None
        segs = rel_path.split("/")

        def walk(node, i, params):
            if i == len(segs):
                m = node.get("m")
                return (m, dict(params)) if m else None
            seg = segs[i]
            lit = node.get("lit", {}).get(seg)
            if lit is not None:
                hit = walk(lit, i + 1, params)
                if hit:
                    return hit
            if seg:
                for name, child in node.get("var", {}).items():
                    params.append((name, seg))
                    hit = walk(child, i + 1, params)
                    params.pop()
                    if hit:
                        return hit
            return None

        return walk(root, 0, [])

    def _fullmatch(self, pattern, value):
        rx = self._pattern_cache.get(pattern)
        if rx is None:
            rx = self._pattern_cache[pattern] = re.compile(pattern)
        return rx.fullmatch(value) is not None

    # -- parameters ----------------------------------------------------------------------
    def check_path_params(self, method, params):
        for name, value in params.items():
            spec = method.params.get(name, {})
            pat = spec.get("pattern")
            if pat and not self._fullmatch(pat, value):
                raise errors.invalid_field(name, value, f"Must be a match of regex '{pat}'")

    def coerce_query(self, method, query):
        """Check query parameters against the method; return {name: value} (lists for repeated)."""
        out = {}
        for name, values in query.items():
            if name in STANDARD_QUERY:
                continue
            spec = method.params.get(name)
            if spec is None or spec.get("location") != "query":
                msg = (
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message."
                )
                raise errors.json_payload(msg, name)
            conv = [self._scalar(spec, v, snake(name), from_query=True) for v in values]
            out[name] = conv if spec.get("repeated") else conv[-1]
        for name, spec in method.params.items():
            if spec.get("location") == "query" and spec.get("required") and name not in out:
                raise errors.required(name)
        return out

    # -- bodies --------------------------------------------------------------------------
    def check_body(self, method, body):
        if method.request_ref is None:
            return
        top = snake(method.request_ref) + "_resource"
        if not isinstance(body, dict):
            raise errors.json_payload(
                f"Invalid JSON payload received. Expected an object at '{top}'.", top
            )
        self._check_object(self.schemas[method.request_ref], body, top, "resource", method.id)

    def _check_object(self, schema, value, where, field_path, method_id):
        props = schema.get("properties")
        addl = schema.get("additionalProperties")
        if props is None and addl is None:
            return  # free-form object
        for key, sub in value.items():
            spec = (props or {}).get(key)
            if spec is None:
                if addl is not None:
                    self._check_value(addl, sub, f"{where}[{key}]", f"{field_path}.{key}", method_id)
                    continue
                msg = f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': Cannot find field.'
                raise errors.json_payload(msg, where)
            self._check_value(spec, sub, f"{where}.{snake(key)}", f"{field_path}.{key}", method_id)
        if props:
            for key, spec in props.items():
                req = spec.get("annotations", {}).get("required")
                if req and method_id in req and key not in value:
                    raise errors.required(f"{field_path}.{key}")

    def _check_value(self, spec, value, where, field_path, method_id):
        if "$ref" in spec:
            spec = self.schemas[spec["$ref"]]
        if value is None:
            return  # JSON null means "unset" to Google's parser
        typ = spec.get("type")
        if typ == "object" or (typ is None and ("properties" in spec or "additionalProperties" in spec)):
            if not isinstance(value, dict):
                raise errors.json_payload(
                    f"Invalid value at '{where}' (type.googleapis.com/google.cloud.compute.v1."
                    f"{spec.get('id', 'Object')}), {json.dumps(value)}",
                    where,
                )
            self._check_object(spec, value, where, field_path, method_id)
        elif typ == "array":
            if not isinstance(value, list):
                raise errors.json_payload(
                    f"Invalid value at '{where}' (TYPE_LIST), {json.dumps(value)}", where
                )
            for i, item in enumerate(value):
                self._check_value(spec.get("items", {}), item, f"{where}[{i}]", f"{field_path}[{i}]", method_id)
        elif typ == "any" or typ is None:
            return
        else:
            self._scalar(spec, value, where, field_path=field_path)

    def _scalar(self, spec, value, where, *, from_query=False, field_path=None):
        typ = spec.get("type")
        fmt = spec.get("format")

        def bad(kind):
            return errors.json_payload(f"Invalid value at '{where}' ({kind}), {json.dumps(value)}", where)

        if typ == "string":
            if fmt in _INT_RANGES:
                # int64 travel as JSON strings, but Google's parser also accepts numbers.
                if isinstance(value, bool) or not isinstance(value, (str, int)):
                    raise bad("TYPE_" + fmt.upper())
                text = str(value)
                if not (_UINT_RE if fmt.startswith("u") else _INT_RE).fullmatch(text):
                    raise bad("TYPE_" + fmt.upper())
                lo, hi = _INT_RANGES[fmt]
                if not lo <= int(text) <= hi:
                    raise bad("TYPE_" + fmt.upper())
                return text
            if not isinstance(value, str):
                raise bad("TYPE_STRING")
            enum = spec.get("enum")
            if enum and value not in enum:
                raise bad("TYPE_ENUM")
            pat = spec.get("pattern")
            if pat and not from_query and value and not self._fullmatch(pat, value):
                raise errors.invalid_field(field_path or where, value, f"Must be a match of regex '{pat}'")
            return value
        if typ == "integer":
            text = value
            if isinstance(value, bool):
                raise bad("TYPE_" + (fmt or "int32").upper())
            if isinstance(value, float) and value.is_integer():
                text = int(value)
            if isinstance(text, str) and (_INT_RE.fullmatch(text)):
                text = int(text)
            if not isinstance(text, int):
                raise bad("TYPE_" + (fmt or "int32").upper())
            lo, hi = _INT_RANGES.get(fmt or "int32", _INT_RANGES["int32"])
            if not lo <= text <= hi:
                raise bad("TYPE_" + (fmt or "int32").upper())
            return text
        if typ == "number":
            if isinstance(value, bool):
                raise bad("TYPE_DOUBLE")
            try:
                return float(value)
            except (TypeError, ValueError):
                raise bad("TYPE_DOUBLE") from None
        if typ == "boolean":
            if from_query and isinstance(value, str) and value in QUERY_BOOLEANS:
                return QUERY_BOOLEANS[value]
            if not isinstance(value, bool):
                raise bad("TYPE_BOOL")
            return value
        return value


_lock = threading.Lock()
_doc = None


def get():
    """The process-wide Discovery, loaded on first use."""
    global _doc
    if _doc is None:
        with _lock:
            if _doc is None:
                _doc = Discovery()
    return _doc
