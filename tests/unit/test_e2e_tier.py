"""The end-to-end tier fails, never skips, when the installed `chaton` is missing in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_a_missing_chaton_fails_the_e2e_tier_in_ci_and_skips_it_elsewhere(tmp_path: Path, ci: str,
                                                                            outcome: str) -> None:
    env = {**os.environ, "CI": ci, "CHATON_E2E_COMMAND": str(tmp_path / "not-installed" / "chaton")}

    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/e2e/test_cli_installed.py", "-k", "example_inventory_exits_0"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)

    assert outcome in done.stdout, done.stdout[-2000:]
    assert done.returncode == (1 if ci else 0)
    if ci:
        assert "CI=true: the end-to-end tier must run" in done.stdout
