"""`make demo` as a newcomer runs it: in an 80-column terminal, on the lab, start to finish."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.lab import lab as lab_module
from tests.terminal import run_in_terminal

ROOT = Path(__file__).resolve().parents[2]


def test_make_demo_completes_in_an_80_column_terminal_and_leaves_no_lab_behind():
    # its own lab instance, so that it never meets the lab of this test session
    demo_lab_id = str((lab_module.LAB_ID + 50) % 100)
    env = {"CHATON_LAB_ID": demo_lab_id, "CHATON_LAB_LOCK_WAIT": "0"}

    run = run_in_terminal(["make", "demo"], env=env, cwd=ROOT, timeout=900, columns=80)

    assert run.returncode == 0, run.text[-4000:]
    assert run.crash_markers() == [], run.text
    text = run.text
    # the installation noise went to log files: one line each (the venv's only when it was (re)built)
    assert "Debian packages of the lab (scripts/install-lab-deps) … done" in text
    assert "Collecting " not in text and "Reading package lists" not in text
    assert "== Done" in text
    # the lab of the demo is gone
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout.split()
    assert not any(name.startswith(f"lab{demo_lab_id}-") for name in namespaces)
