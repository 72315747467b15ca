"""Property: whatever a careless or hostile edit does to a valid inventory, `chaton inventory check`
exits 0 or 2, and when it exits 2 every problem is located (file:line:column) — never a traceback,
never another exit code, never an unlocated message.

Edits (combined, a few at a time) on the data: delete, retype, rename, nest, alias (shared and
self-referencing values, which YAML writes as anchors and aliases), garble a key or a value; and on
the text: duplicate a line, change an indentation, insert a tab, garble or truncate bytes.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chaton_ops.cli.main import main

ROOT = Path(__file__).parents[3]
FULL = """\
version: 1
collective: {name: Ti Nuage, domain: ti-nuage.example, contact: admins@ti-nuage.example}
defaults:
  ssh: {user: root, port: 22, identity: ~/.ssh/id_ed25519, known_hosts: ~/.ssh/known_hosts, connect_timeout: 5}
  retention: {last: 3, daily: 7, weekly: 5, monthly: 12, within: 2d}
  min_free_percent: 10
  max_age_hours: 26
  jobs: 4
secrets:
  restic-main: {env: RESTIC_MAIN}
  pve-token: {env: CHATON_PVE_TOKEN}
  tsig: {command: "pass show chaton/tsig"}
  hc: {env: HC_URL}
repositories:
  main: {url: "sftp:backup@backup.ti-nuage.example:/srv/restic/main", password: restic-main}
  local: {url: /srv/restic/local, password: restic-main, min_free_percent: 15}
proxmox:
  hutte: {api: "https://hutte1.ti-nuage.example:8006", token_id: "chaton@pve!ops", token: pve-token}
hosts:
  hutte1: {address: 192.0.2.10, kind: proxmox-node, proxmox: hutte}
  web: {address: 192.0.2.23, vm: {proxmox: hutte, node: hutte1, vmid: 103}, ssh: {port: 2222}}
  vps: {address: "2001:db8::7", kind: fallback, capacity: {disk_gb: 200, memory_gb: 8}, service_manager: direct}
dns:
  ti-nuage.example: {server: 192.0.2.53, key_name: chaton, key: tsig, failover_ttl: 60}
tenants:
  cigales: {contact: contact@cigales.example, last_contact: 2026-03-02, repository: main}
notify: {healthchecks: [hc], events: [failure, recovery]}
services:
  www:
    tenant: cigales
    host: web
    priority: critical
    playbook: static-site
    vars: {server_name: www.ti-nuage.example, index: index.html}
    data: [/srv/www]
    exclude: ["*.tmp"]
    databases: [{engine: postgres, name: site}]
    repositories: [main, local]
    retention: {last: 5}
    dns: [{zone: ti-nuage.example, name: www, type: A}]
    check: {http: {url: "http://www.ti-nuage.example/", status: 200, contains: Ti Nuage}}
    fallback: vps
    notify: {healthchecks: [hc]}
  mx:
    host: web
    playbook: postfix-relay
    vars: {relay_domains: [cigales.example], relay_to: "[mail.ti-nuage.example]:25"}
    data: [/var/spool/postfix]
    check: {smtp: {host: mx.ti-nuage.example, port: 25}, tcp: {host: 192.0.2.23, port: 25}}
"""
SEEDS = {"full": FULL, "example": (ROOT / "inventory" / "example.yml").read_text()}
PARSED = {name: yaml.safe_load(text) for name, text in SEEDS.items()}
LOCATED = re.compile(r"^  (?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): ")

# Values of every YAML type, and strings that are almost right or hostile.
hostile_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "-oProxyCommand=touch /tmp/x", "192.0.2.023", "127.1", "3221225985", "../..",
                     "/srv/../etc", "a\nb", "x;\n  location /etc {", "<?php system('id'); ?>", "{{ 7*7 }}",
                     "yes", "no", "~", "null", "0x10", "1e3", ".inf", "2026-13-40", "'", '"', "\x1b[2J",
                     "\u2028", "web.example.", "WEB", "a" * 300]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), hostile_text,
                    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(hostile_text, inner, max_size=3)),
                      max_leaves=6)


def paths_in(data: Any, prefix: tuple = (), seen: frozenset[int] = frozenset()) -> list[tuple]:
    found = [prefix]
    if id(data) in seen:  # a self-alias: its value contains itself
        return found
    seen = seen | {id(data)}
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths_in(value, (*prefix, key), seen)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += paths_in(value, (*prefix, index), seen)
    return found


def get(data: Any, path: tuple) -> Any:
    for part in path:
        data = data[part]
    return data


def set_at(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    get(data, path[:-1])[path[-1]] = value
    return data


@st.composite
def edited_data(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(PARSED[draw(st.sampled_from(sorted(PARSED)))])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = paths_in(data)
        path = draw(st.sampled_from(paths))
        edit = draw(st.sampled_from(["delete", "retype", "rename", "nest", "alias", "self-alias", "garble-value",
                                     "garble-key"]))
        parent = get(data, path[:-1]) if path else None
        if edit == "delete" and path:
            del parent[path[-1]]
        elif edit == "retype":
            data = set_at(data, path, draw(values))
        elif edit in ("rename", "garble-key") and path and isinstance(parent, dict):
            old = path[-1]
            new = draw(hostile_text) if edit == "garble-key" else draw(st.sampled_from(
                [old.upper(), old[:-1], old + "s", "x" + old, *[k for k in parent if k != old]] or [old]))
            parent[new] = parent.pop(old)
        elif edit == "nest":
            value = get(data, path)
            data = set_at(data, path, draw(st.sampled_from([[value], {"x": value}, {"value": value}])))
        elif edit == "alias":  # a value shared by two places: YAML writes an anchor and an alias
            source = get(data, draw(st.sampled_from(paths)))
            data = set_at(data, path, source)
        elif edit == "self-alias" and isinstance(get(data, path), dict | list):
            container = get(data, path)
            if isinstance(container, dict):
                container["again"] = container
            else:
                container.append(container)
        elif edit == "garble-value":
            value = get(data, path)
            text = value if isinstance(value, str) else str(value)
            position = draw(st.integers(min_value=0, max_value=len(text)))
            data = set_at(data, path, text[:position] + draw(hostile_text) + text[position:])
    return data


@st.composite
def edited_bytes(draw: st.DrawFn) -> bytes:
    data = draw(edited_data())
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    raw = text.encode("utf-8")
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        lines = raw.split(b"\n")
        index = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        edit = draw(st.sampled_from(["duplicate-line", "indent", "dedent", "tab", "garble-byte", "truncate"]))
        if edit == "duplicate-line":
            lines.insert(index, lines[index])
        elif edit == "indent":
            lines[index] = b"  " + lines[index]
        elif edit == "dedent":
            lines[index] = lines[index][1:]
        elif edit == "tab":
            lines[index] = b"\t" + lines[index]
        elif edit == "garble-byte":
            line = lines[index]
            position = draw(st.integers(min_value=0, max_value=len(line)))
            lines[index] = line[:position] + draw(st.binary(min_size=1, max_size=3)) + line[position:]
        elif edit == "truncate":
            lines = lines[: index + 1]
        raw = b"\n".join(lines)
    return raw


def check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inventory", "check", str(path)])
    return code, out.getvalue(), err.getvalue()


def assert_exits_0_or_2_with_every_problem_located(path: Path) -> None:
    code, out, err = check(path)
    event(f"exit {code}")
    assert code in (0, 2), f"exit {code}\n{err}"
    if code == 0:
        assert out.startswith("inventory OK:")
        return
    lines = err.splitlines()
    head = re.match(r"^error: (\d+) problems? in the (inventory|playbook):$", lines[0])
    assert head, err
    problems = [line for line in lines[1:] if line.startswith("  ")]
    assert len(problems) == int(head.group(1)), err
    for line in problems:
        event(re.sub(r"'[^']*'|\d+", "_", line.split(": ", 1)[-1])[:50])
        found = LOCATED.match(line)
        assert found, f"not located: {line!r}"
        assert int(found["line"]) >= 1 and int(found["column"]) >= 1
    assert "Traceback" not in err


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_the_seeds_are_valid(tmp_path: Path, seed: str) -> None:
    path = tmp_path / "inventory.yml"
    path.write_text(SEEDS[seed])
    assert check(path)[0] == 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=edited_bytes())
def test_any_edit_of_a_valid_inventory_exits_0_or_2_with_every_problem_located(tmp_path_factory, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("edited") / "inventory.yml"
    path.write_bytes(raw)
    assert_exits_0_or_2_with_every_problem_located(path)
