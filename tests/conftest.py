"""Session-wide setup of the whole suite.

Under pytest-xdist (`make test` runs the suite on several processes), each worker that runs lab tests
brings up a lab of its own: worker gwN uses lab CHATON_LAB_ID + N (its own bridge, namespaces, subnet,
lock and state folder, see tests/lab/README.md). This runs before tests/lab/lab.py is imported, which
reads CHATON_LAB_ID once.
"""

from __future__ import annotations

import os

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw") and _worker[2:].isdigit():
    _base = os.environ.get("CHATON_LAB_ID", "0") or "0"
    if _base.isdigit():
        os.environ["CHATON_LAB_ID"] = str((int(_base) + int(_worker[2:])) % 100)
