"""Secret references: resolved only on demand, and the value never shows in repr, errors or output."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest

from chaton_ops.adapters.secrets import SecretValue, exposure_warning, resolve_secret
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.core.masking import MASK, mask_text
from chaton_ops.errors import SecretError

VALUE = "Tr0ub4dor-and-3"


def inventory_with(tmp_path: Path, secrets: str) -> LoadedInventory:
    path = tmp_path / "inventory.yml"
    path.write_text("version: 1\ncollective: {name: T, domain: t.example, contact: a@t.example}\n"
                    "secrets:\n" + secrets)
    return load_inventory(path)


def test_an_environment_reference_is_read_when_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = inventory_with(tmp_path, "  pass: {env: TEST_SECRET_PASS}\n")
    monkeypatch.setenv("TEST_SECRET_PASS", VALUE + "\n")

    assert resolve_secret(loaded, "pass").reveal() == VALUE


def test_loading_the_inventory_does_not_resolve_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_SECRET_UNSET", raising=False)

    loaded = inventory_with(tmp_path, "  pass: {env: TEST_SECRET_UNSET}\n")

    assert loaded.inventory.secrets["pass"].env == "TEST_SECRET_UNSET"


def test_a_file_reference_relative_to_the_inventory_gives_its_first_line(tmp_path: Path) -> None:
    (tmp_path / "repo.pass").write_text(VALUE + "\nsecond line\n")
    os.chmod(tmp_path / "repo.pass", 0o600)
    loaded = inventory_with(tmp_path, "  pass: {file: repo.pass}\n")

    assert resolve_secret(loaded, "pass").reveal() == VALUE


def command_printing(tmp_path: Path, code: str) -> str:
    script = tmp_path / "print_secret.py"
    script.write_text(code)
    return f"  pass: {{command: '{sys.executable} {script} ; not-a-shell'}}\n"


def test_a_command_reference_runs_without_a_shell(tmp_path: Path) -> None:
    # `; not-a-shell` reaches the script as arguments: no shell interprets it.
    code = f"import sys\nassert sys.argv[1:] == [';', 'not-a-shell']\nprint({VALUE!r})\nprint('ignored')\n"
    loaded = inventory_with(tmp_path, command_printing(tmp_path, code))

    assert resolve_secret(loaded, "pass").reveal() == VALUE


def test_repr_str_and_json_of_a_secret_never_show_its_value() -> None:
    secret = SecretValue("pass", VALUE)

    shown = [repr(secret), str(secret), f"{secret}", json.dumps({"s": secret}, default=str)]

    assert all(VALUE not in text for text in shown)
    assert "pass" in repr(secret)


def test_a_revealed_secret_is_masked_in_any_text_afterwards() -> None:
    SecretValue("pass", VALUE)

    assert mask_text(f"restic -p {VALUE} backup") == f"restic -p {MASK} backup"


def test_a_failing_command_says_how_it_ended_not_what_it_printed(tmp_path: Path) -> None:
    loaded = inventory_with(tmp_path, command_printing(tmp_path, f"import sys\nprint({VALUE!r})\nsys.exit(3)\n"))

    with pytest.raises(SecretError) as raised:
        resolve_secret(loaded, "pass")

    assert "exited with 3" in str(raised.value)
    assert VALUE not in str(raised.value)


@pytest.mark.parametrize(("secrets", "expected"), [
    ("  pass: {env: TEST_SECRET_UNSET}\n", "environment variable TEST_SECRET_UNSET is not set"),
    ("  pass: {file: /nonexistent/chaton.pass}\n", "/nonexistent/chaton.pass does not exist"),
    ("  pass: {command: no-such-command-chaton}\n", "'no-such-command-chaton' not found"),
])
def test_an_unresolvable_reference_names_the_secret_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            secrets: str, expected: str) -> None:
    monkeypatch.delenv("TEST_SECRET_UNSET", raising=False)
    loaded = inventory_with(tmp_path, secrets)

    with pytest.raises(SecretError) as raised:
        resolve_secret(loaded, "pass")

    assert "secret 'pass'" in str(raised.value) and expected in str(raised.value)


def test_an_empty_secret_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SECRET_EMPTY", "  ")
    loaded = inventory_with(tmp_path, "  pass: {env: TEST_SECRET_EMPTY}\n")

    with pytest.raises(SecretError, match="is empty"):
        resolve_secret(loaded, "pass")


def test_an_undefined_secret_name_is_an_error(tmp_path: Path) -> None:
    loaded = inventory_with(tmp_path, "  pass: {env: X}\n")

    with pytest.raises(SecretError, match="'other' is not defined"):
        resolve_secret(loaded, "other")


@pytest.mark.parametrize(("mode", "warned"), [(0o600, False), (0o400, False), (0o640, True), (0o604, True)])
def test_a_secret_file_readable_by_group_or_others_is_warned_about(tmp_path: Path, mode: int,
                                                                   warned: bool) -> None:
    path = tmp_path / "repo.pass"
    path.write_text(VALUE)
    os.chmod(path, mode)

    warning = exposure_warning("pass", path)

    assert (warning is not None) == warned
    if warning:
        assert f"mode {mode:04o}" in warning and "chmod 600" in warning and VALUE not in warning


def test_resolving_an_exposed_file_logs_the_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "repo.pass").write_text(VALUE)
    os.chmod(tmp_path / "repo.pass", 0o644)
    loaded = inventory_with(tmp_path, "  pass: {file: repo.pass}\n")

    with caplog.at_level(logging.WARNING):
        resolve_secret(loaded, "pass")

    assert "readable by group or others" in caplog.text
    assert VALUE not in caplog.text


@pytest.mark.parametrize("kind", ["/dev/zero", "/dev/urandom", "fifo", "folder"])
def test_a_secret_file_that_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    import time

    path = Path(kind)
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # nobody writes: reading would block forever
    elif kind == "folder":
        path = tmp_path / "folder"
        path.mkdir()
    loaded = inventory_with(tmp_path, f"  pass: {{file: {path}}}\n")
    started = time.monotonic()

    with pytest.raises(SecretError, match=f"secret 'pass': cannot read {path}: not a regular file"):
        resolve_secret(loaded, "pass")

    assert time.monotonic() - started < 2
