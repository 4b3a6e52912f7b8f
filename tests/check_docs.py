"""Check every module's documentation through ansible-doc, the way a user reads it.

Run with ANSIBLE_COLLECTIONS_PATH pointing at a tree holding ansible_collections/gce/cos.
Fails when ansible-doc cannot render a module, or when a module lacks EXAMPLES or RETURN.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ANSIBLE_DOC = os.path.join(os.path.dirname(sys.executable), "ansible-doc")


def main():
    modules = sorted(
        name[:-3]
        for name in os.listdir(os.path.join(ROOT, "plugins", "modules"))
        if name.endswith(".py") and not name.startswith("_")
    )
    failures = []
    for name in modules:
        fqcn = "gce.cos." + name
        proc = subprocess.run([ANSIBLE_DOC, "-j", "-t", "module", fqcn], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or fqcn not in proc.stdout:
            failures.append("%s: ansible-doc failed: %s" % (fqcn, proc.stderr.strip()[-500:]))
            continue
        doc = json.loads(proc.stdout)[fqcn]
        for part in ("doc", "examples", "return"):
            if not doc.get(part):
                failures.append("%s: no %s" % (fqcn, part.upper()))
        print("ansible-doc %s: ok" % fqcn)
    if failures:
        sys.exit("\n".join(failures))


if __name__ == "__main__":
    main()
