"""Every command shown to a user is written so that a shell reads back exactly its argv (shlex.join):
pasted into a terminal, it runs that command and nothing else."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import subprocess
from pathlib import Path

from chaton_ops.cli.main import main
from chaton_ops.errors import CommandFailed

SOURCE = Path(__file__).parents[3] / "src" / "chaton_ops"
HOSTILE_PATH = "/srv/it's $(touch PWNED) `id` here;"


def test_no_source_joins_a_command_with_spaces() -> None:
    """`" ".join(argv)` is how a command loses its quoting: nothing in the package joins argv, a command,
    its args, flags or what is shown of it with spaces (shlex.join does it right)."""
    commandish = re.compile(r"argv|command|cmd|args|shown|flags")
    found = []
    for path in SOURCE.rglob("*.py"):
        text = path.read_text()
        for node in ast.walk(ast.parse(text, str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
                    and isinstance(node.func.value, ast.Constant) and node.func.value.value == " "
                    and node.args and commandish.search(ast.get_source_segment(text, node.args[0]) or "")):
                found.append(f"{path.relative_to(SOURCE)}:{node.lineno}")
    assert found == []


def shell_reads(command: str, tmp_path: Path) -> list[str]:
    """The words a POSIX shell makes of `command` (run in tmp_path: a command substitution would leave a file)."""
    done = subprocess.run(["sh", "-c", f'set -- {command}; printf "%s\\n" "$@"'], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


def test_backup_dry_run_json_shows_a_command_the_shell_reads_back_exactly(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(f"""\
version: 1
collective: {{name: T, domain: t.example, contact: a@t.example}}
secrets:
  pass: {{env: RESTIC_PASSWORD}}
repositories:
  main: {{url: "sftp:backup@backup.t.example:/srv/restic", password: pass}}
hosts:
  web: {{address: 192.0.2.10}}
services:
  www: {{host: web, data: ["{HOSTILE_PATH}"], exclude: ["*.tmp; rm -rf /"]}}
""")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["-i", str(inventory), "--dry-run", "--json", "backup", "www"]) == 0
    plan = json.loads(out.getvalue())
    command = plan["backups"][0]["command"]
    words = shell_reads(command, tmp_path)
    assert HOSTILE_PATH in words and "--exclude" in words and "*.tmp; rm -rf /" in words
    assert not (tmp_path / "PWNED").exists()
    assert shell_reads(plan["retention"][0]["policy"], tmp_path)[0].startswith("--keep-")


def test_a_failed_command_is_shown_quoted(tmp_path: Path) -> None:
    argv = ["ls", "--", HOSTILE_PATH]
    message = str(CommandFailed("web", argv, 2, "no such file"))
    shown = message[message.index("`") + 1:message.rindex("` exited")]
    assert shell_reads(shown, tmp_path) == argv
    assert not (tmp_path / "PWNED").exists()
