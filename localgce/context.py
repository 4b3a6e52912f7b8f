"""What a resource handler gets: the parsed, validated request plus the app (below the server,
so that a resource can run another resource's handler, as a managed instance group creates instances)."""

from __future__ import annotations


class Ctx:
    """What a resource handler gets: the parsed, validated request plus the app."""

    __slots__ = ("app", "backend", "body", "http_method", "method", "params", "path", "project", "query", "store")

    def __init__(self, app, http_method, path, method, params, query, body):
        self.app = app
        self.store = app.store
        self.backend = app.backend
        self.http_method = http_method
        self.path = path
        self.method = method
        self.params = params
        self.query = query
        self.body = body
        self.project = params.get("project")

    def op(self, op_type, target_path, *, scope, target_id=None, **callbacks):
        fault = self.app.faults.take(self.http_method, self.path, lambda f: "status" not in f)
        return self.app.ops.submit(
            project=self.project,
            scope=scope,
            op_type=op_type,
            target_path=target_path,
            target_id=target_id,
            request_id=self.query.get("requestId"),
            fault=fault,
            **callbacks,
        )
