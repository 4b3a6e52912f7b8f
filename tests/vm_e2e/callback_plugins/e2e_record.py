"""Record every task result as one JSON line in $E2E_RESULTS_FILE (the tests read module results)."""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: e2e_record
type: aggregate
short_description: task results as JSON lines, for tests/vm_e2e
description: [Writes each task result to the file named by E2E_RESULTS_FILE.]
requirements: [enable in configuration]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "e2e_record"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, result, status):
        path = os.environ.get("E2E_RESULTS_FILE")
        if not path:
            return
        with open(path, "a") as f:
            f.write(json.dumps({"task": result.task_name, "status": status,
                                "result": result._result}, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._write(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(result, "failed")
