"""An inventory whose one host is this machine (local transport) and whose repository is a local
folder, for the CLI tests that run the real restic without the lab."""

from __future__ import annotations

from pathlib import Path

import pytest


def local_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path) -> Path:
    """inventory.yml in `tmp_path`: service `site` backing up `data` on localhost to repository
    `local` (`tmp_path/repo`, password from a file); journal and state inside `tmp_path`."""
    monkeypatch.setenv("CHATON_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("CHATON_STATE_DIR", str(tmp_path / "state"))
    password = tmp_path / "restic.pass"
    password.write_text("correct horse\n")
    password.chmod(0o600)
    path = tmp_path / "inventory.yml"
    path.write_text(f"""version: 1
collective: {{name: T, domain: t.example, contact: a@t.example}}
secrets:
  pw: {{file: {password}}}
repositories:
  local: {{url: "{tmp_path / 'repo'}", password: pw}}
hosts:
  localhost: {{address: 127.0.0.1}}
services:
  site: {{host: localhost, data: ["{data}"]}}
""")
    return path
