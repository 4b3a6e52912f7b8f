# Copyright (c) 2026 gce.cos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module is PRIVATE to the gce.cos collection: it may change at any time, without notice.
# Do not use it from other collections or from your own plugins.
"""One client factory per module run, over google-cloud-compute's REST transport.

Resources travel as plain dicts in the API's JSON form (camelCase, int64 as strings), the
form of the REST docs and of ``gcloud --format=json``; proto messages stay inside this file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib
import importlib.util
import json
import sys
import types
import uuid

from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_errors import (
    GcpError,
    api_error_status,
    describe_api_error,
    describe_auth_error,
    describe_transport_error,
)
from ansible_collections.gce.cos.plugins.module_utils._gcp.gcp_retry import RetryPolicy, is_transport_error
from ansible_collections.gce.cos.plugins.module_utils.version import USER_AGENT

_PACKAGE = "google.cloud.compute_v1"

# service (its module under compute_v1.services) -> (singular, plural) as the API's class names spell
# them: the client is PLURAL + "Client", the requests InsertSINGULARRequest and ListPLURALRequest.
SERVICES = {
    "instances": ("Instance", "Instances"),
    "disks": ("Disk", "Disks"),
    "disk_types": ("DiskType", "DiskTypes"),
    "snapshots": ("Snapshot", "Snapshots"),
    "images": ("Image", "Images"),
    "firewalls": ("Firewall", "Firewalls"),
    "zones": ("Zone", "Zones"),
    "machine_types": ("MachineType", "MachineTypes"),
    "networks": ("Network", "Networks"),
    "subnetworks": ("Subnetwork", "Subnetworks"),
    "addresses": ("Address", "Addresses"),
    "instance_templates": ("InstanceTemplate", "InstanceTemplates"),
    "region_instance_templates": ("RegionInstanceTemplate", "RegionInstanceTemplates"),
    "health_checks": ("HealthCheck", "HealthChecks"),
    "region_health_checks": ("RegionHealthCheck", "RegionHealthChecks"),
    "instance_group_managers": ("InstanceGroupManager", "InstanceGroupManagers"),
    "region_instance_group_managers": ("RegionInstanceGroupManager", "RegionInstanceGroupManagers"),
    "zone_operations": ("ZoneOperation", "ZoneOperations"),
    "region_operations": ("RegionOperation", "RegionOperations"),
    "global_operations": ("GlobalOperation", "GlobalOperations"),
}


def _compute_package():
    """Import compute_v1 without running its ``__init__``.

    The package ``__init__`` imports all ~100 services (about 1.3 s of a 2 s import); a
    module needs two or three. Registering the package first lets Python import only the
    submodules asked for. Falls back to the plain import if the layout ever changes.
    """
    if _PACKAGE in sys.modules:
        return sys.modules[_PACKAGE]
    try:
        spec = importlib.util.find_spec(_PACKAGE)
        package = types.ModuleType(_PACKAGE)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        package.__file__ = spec.origin
        package.__package__ = _PACKAGE
        sys.modules[_PACKAGE] = package
        importlib.import_module(_PACKAGE + ".gapic_version")
        return package
    except Exception:
        sys.modules.pop(_PACKAGE, None)
        return importlib.import_module(_PACKAGE)


def compute_types():
    """The ``compute_v1.types.compute`` module (all request and resource messages)."""
    _compute_package()
    return importlib.import_module(_PACKAGE + ".types.compute")


def to_dict(message):
    """A proto-plus message as the API's JSON dict (enums as names, empty fields dropped)."""
    if message is None:
        return None
    cls = type(message)
    return json.loads(
        cls.to_json(message, use_integers_for_enums=False, preserving_proto_field_name=False, indent=None)
    )


def merge_pages(pages):
    """Pages as one dict: list fields concatenated, aggregated ``items`` merged, the rest from the last page."""
    out = {}
    for page in pages:
        for key, value in to_dict(page).items():
            if isinstance(value, list):
                out.setdefault(key, []).extend(value)
            elif key == "items" and isinstance(value, dict):
                for scope, scoped in value.items():
                    into = out.setdefault(key, {}).setdefault(scope, {})
                    for field, part in scoped.items():
                        if isinstance(part, list):
                            into.setdefault(field, []).extend(part)
                        else:
                            into[field] = part
            elif key != "nextPageToken":
                out[key] = value
    return out


def drop_unknown_request_id(service, method, fields):
    """The id every mutation gets through the API helper goes, for the few methods that take none.

    (images and snapshots setLabels)
    """
    if "request_id" in fields and "request_id" not in ComputeApi._request_class(service, method).meta.fields:
        del fields["request_id"]


class ComputeApi:
    """Clients, retries and error translation for one module run.

    Every call names an ``action`` and a ``resource`` (e.g. "create", "instance 'web' in
    us-central1-a") so that a failure message says what was being done to what.
    """

    def __init__(
        self,
        credentials,
        project,
        api_endpoint=None,
        auth_kind="application",
        retry_policy_factory=RetryPolicy,
        clients=None,
    ):
        self.credentials = credentials
        self.auth_kind = auth_kind
        self.project = project
        self.api_endpoint = api_endpoint.rstrip("/") if api_endpoint else None
        # ``clients``: a cache shared with other runs (the API helper keeps one per credentials, project, endpoint).
        self._clients = {} if clients is None else clients
        self._retry_policy_factory = retry_policy_factory
        self.request_count = 0

    @property
    def endpoint_label(self):
        return self.api_endpoint or "https://compute.googleapis.com"

    def client(self, service):
        if service not in self._clients:
            plural = SERVICES[service][1]
            _compute_package()
            module = importlib.import_module("%s.services.%s" % (_PACKAGE, service))
            from google.api_core.client_options import ClientOptions
            from google.api_core.gapic_v1.client_info import ClientInfo

            options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
            self._clients[service] = getattr(module, plural + "Client")(
                credentials=self.credentials,
                transport="rest",
                client_options=options,
                client_info=ClientInfo(user_agent=USER_AGENT),
            )
        return self._clients[service]

    def _request(self, service, method, fields):
        """Build the request message; dict bodies (``*_resource`` fields) go through from_json."""
        client = self.client(service)
        bound = getattr(client, method)
        request_cls = self._request_class(service, method)
        converted = {}
        for key, value in fields.items():
            if isinstance(value, dict) and key.endswith("_resource"):
                msg_cls = request_cls.meta.fields[key].message
                value = msg_cls.from_json(json.dumps(value), ignore_unknown_fields=False)
            converted[key] = value
        return bound, request_cls(**converted)

    @classmethod
    def _request_class(cls, service, method):
        """insert_unary on instances -> InsertInstanceRequest, list -> ListInstancesRequest."""
        base = method[: -len("_unary")] if method.endswith("_unary") else method
        singular, plural = SERVICES[service]
        # Every list method is spelled with the plural (ListManagedInstancesInstanceGroupManagersRequest).
        noun = plural if base == "aggregated_list" or base.split("_")[0] == "list" else singular
        name = "".join(part.capitalize() for part in base.split("_")) + noun + "Request"
        return getattr(compute_types(), name)

    def call(self, service, method, /, *, doing, retry=True, timeout=None, **fields):
        """Run one API method with retries; returns the response as plain JSON data, every page read.

        ``doing`` says what the call does, for error messages ("read instance 'web' in us-central1-a"):
        a failure reads "DOING failed: ...". It is keyword-only, apart from the request fields (some of
        which are named ``resource``).

        ``list`` methods return the list of items; ``aggregated_list`` returns the ``items`` map
        ({"zones/z": {"instances": [...]}, ...}) merged over the pages; other list methods
        (listManagedInstances) return the pages merged into one dict; the rest return a dict.
        Mutations get a ``request_id`` once, reused by every retry. ``timeout`` bounds the
        HTTP exchange (default 60 s, 130 s for operation waits, which the server holds ~2 min).
        ``retry`` is True, False, or a number of seconds that bounds the retries' total time.
        """
        bound, request = self._request(service, method, fields)
        if "request_id" in type(request).meta.fields and not request.request_id:
            request.request_id = str(uuid.uuid4())

        def attempt():
            self.request_count += 1
            return bound(request=request, retry=None, timeout=fields_timeout)

        fields_timeout = timeout or (130.0 if service.endswith("_operations") else 60.0)
        policy = self._retry_policy_factory()
        if retry is not True and retry:
            policy.deadline = min(policy.deadline, float(retry))
        try:
            response = policy.call(attempt) if retry else attempt()
            if not hasattr(response, "pages"):
                return to_dict(response)

            def counted_pages():
                # The pager fetches each further page as it is read: one request each.
                for number, page in enumerate(response.pages):
                    if number:
                        self.request_count += 1
                    yield page

            merged = merge_pages(counted_pages())
        except Exception as exc:
            raise self.translate(exc, doing)
        if method == "list":
            return merged.get("items") or []
        if method == "aggregated_list":
            return merged.get("items") or {}
        return merged

    def get(self, service, /, *, doing, **fields):
        """GET a resource; None when it does not exist (404)."""
        try:
            return self.call(service, "get", doing=doing, **fields)
        except GcpError as exc:
            if exc.status == 404:
                return None
            raise

    def list(self, service, /, *, doing, **fields):
        """All items of a list call, following pages."""
        return self.call(service, "list", doing=doing, **fields)

    def translate(self, exc, doing):
        if isinstance(exc, GcpError):
            return exc
        module = type(exc).__module__
        if module.startswith("google.auth"):
            return describe_auth_error(exc, self.auth_kind, self.credentials)
        if api_error_status(exc) is not None and module.startswith("google.api_core"):
            return describe_api_error(exc, doing, self.project)
        if is_transport_error(exc):
            return describe_transport_error(exc, doing, self.endpoint_label)
        return GcpError("%s failed: %s: %s" % (doing, type(exc).__name__, exc))
