"""`make fakepve` (tests/pve/serve.py): the README's way to try `chaton vm`. Started here as a person would,
in the foreground, then stopped with Ctrl-C (SIGINT) by its PID."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.pve.cluster import ROOT

CHATON = Path(sys.executable).parent / "chaton"


def test_make_fakepve_serves_the_example_cluster_and_writes_its_inventory(tmp_path: Path) -> None:
    state = tmp_path / "fakepve"
    # started the way a script's `make fakepve &` starts it: with SIGINT ignored (Ctrl-C must still stop it)
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "pve" / "serve.py"), "--dir", str(state)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 30
        lines = []
        while time.monotonic() < deadline:
            line = server.stdout.readline() if server.stdout else ""
            lines.append(line)
            if line.startswith("Ctrl-C stops it") or not line:
                break
        text = "".join(lines)
        assert re.search(r"listening on https://127\.0\.0\.1:\d+", text), text
        assert f"-i {state / 'inventory.yml'} vm list" in text
        assert (state / "pve-token").stat().st_mode & 0o077 == 0

        done = subprocess.run([str(CHATON), "-i", str(state / "inventory.yml"), "--json", "vm", "list"],
                              capture_output=True, text=True, timeout=60, check=False,
                              env={**os.environ, "CHATON_JOURNAL": str(tmp_path / "journal.sqlite3")})

        assert done.returncode == 0, done.stderr
        assert '"relation": "migrated"' in done.stdout and '"relation": "not-in-inventory"' in done.stdout
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)
    assert server.returncode == 0
