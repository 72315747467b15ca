"""The break-glass runbook (`chaton runbook`): an offline document a newcomer follows when the one
volunteer who knows is unreachable. Built from the inventory and what the journal remembers (last
backups, drills, rehearsals), as a small document model rendered to Markdown or to one self-contained
HTML page. Pure: ops/breakglass.py reads the journal, the CLI writes the file.

Never a secret's value: secrets appear as their reference (`secrets.NAME` → env VAR, file PATH or
command), which is what the inventory holds; nothing here resolves one.
"""

from __future__ import annotations

import datetime as dt
import html
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chaton_ops.core.inventory import Inventory, SecretRef
from chaton_ops.core.selection import CHATON_TAG, service_tag


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2
    anchor: str = ""


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Commands:
    """Command lines to type, each with what it does."""

    lines: tuple[tuple[str, str], ...]  # (what it does, the command)


Block = Heading | Paragraph | Table | Commands


@dataclass(frozen=True)
class Recorded:
    """What the journal remembers of one event (a backup, a drill, a rehearsal)."""

    when: dt.datetime | None
    status: str
    detail: str = ""


@dataclass(frozen=True)
class History:
    """The journal's view, per service: last backup, last drill, last rehearsal (and where it is)."""

    journal: str
    backups: Mapping[str, Recorded] = field(default_factory=dict)
    drills: Mapping[str, Recorded] = field(default_factory=dict)
    rehearsals: Mapping[str, Recorded] = field(default_factory=dict)
    placements: Mapping[str, str] = field(default_factory=dict)  # service → host where it runs now, if moved


def describe_secret(name: str, ref: SecretRef | None) -> str:
    """Where a secret is kept, never its value."""
    if ref is None:
        return f"secrets.{name} (not defined)"
    if ref.env is not None:
        return f"secrets.{name} → environment variable {ref.env}"
    if ref.file is not None:
        return f"secrets.{name} → file {ref.file}"
    return f"secrets.{name} → output of the command `{ref.command}`"


def restic_password_option(ref: SecretRef | None) -> list[str]:
    """How bare restic gets the password from the same place (not the value)."""
    if ref is None:
        return []
    if ref.file is not None:
        return ["--password-file", ref.file]
    if ref.command is not None:
        return ["--password-command", ref.command]
    return []


def _when(recorded: Recorded | None) -> str:
    if recorded is None:
        return "never (nothing in the journal)"
    stamp = recorded.when.strftime("%Y-%m-%d %H:%M UTC") if recorded.when else "unknown time"
    return f"{stamp}: {recorded.status}" + (f" ({recorded.detail})" if recorded.detail else "")


def build_runbook(inventory: Inventory, history: History, *, inventory_path: str, generated: dt.datetime,
                  chaton_version: str) -> list[Block]:
    """Every block of the document, in reading order."""
    c = inventory.collective
    chaton = ["chaton", "-i", inventory_path]
    blocks: list[Block] = [
        Heading(f"Break-glass runbook: {c.name}", 1),
        Paragraph(f"Generated {generated.strftime('%Y-%m-%d %H:%M UTC')} by chaton {chaton_version} from the "
                  f"inventory {inventory_path}. Regenerate it with `chaton runbook --to PATH` (the schedule does "
                  "it every day): if this copy is old, the inventory is the truth."),
        Paragraph("If you read this because the person who usually runs the servers cannot be reached: go "
                  "slowly, one service at a time, in the priority order below. Every `chaton` command that changes "
                  "something prints its plan first and asks before it acts; `--dry-run` shows the plan only. "
                  f"What ran, when and how it ended: `{shlex.join([*chaton, 'history'])}` (journal: "
                  f"{history.journal})."),
        Heading("Contacts"),
        Table(("who", "contact"), (("the admins", c.contact),
                                   *((f"tenant {n}", t.contact) for n, t in sorted(inventory.tenants.items())))),
        Heading("First steps"),
        Commands((
            ("is the inventory sound?", shlex.join([*chaton, "inventory", "check"])),
            ("which hosts answer?", shlex.join([*chaton, "ping"])),
            ("what is broken, worst first?", shlex.join([*chaton, "status"])),
            ("are the backups fresh and the repositories sound?", shlex.join([*chaton, "check"])),
        )),
    ]
    blocks += _hosts(inventory, history)
    blocks += _services(inventory, history, chaton)
    blocks += _repositories(inventory)
    blocks += _dns(inventory)
    blocks += _secrets(inventory)
    blocks += _schedule(inventory)
    return blocks


def _hosts(inventory: Inventory, history: History) -> list[Block]:
    rows = []
    for name, host in inventory.hosts.items():
        here = [s for s, svc in inventory.services.items() if history.placements.get(s, svc.host) == name]
        where = f"VM {host.vm.vmid} on {host.vm.node} ({host.vm.proxmox})" if host.vm else host.kind
        ssh = inventory.ssh_for(name)
        rows.append((name, str(host.address), where, f"{ssh.user}@{host.address} port {ssh.port}",
                     ", ".join(here) or "-"))
    return [Heading("Hosts: what runs where"), Table(("host", "address", "what it is", "ssh", "services"), tuple(rows))]


def _services(inventory: Inventory, history: History, chaton: list[str]) -> list[Block]:
    blocks: list[Block] = [Heading("Services, most important first")]
    for name in inventory.services_by_priority(list(inventory.services)):
        service = inventory.services[name]
        now = history.placements.get(name, service.host)
        runs = service.host if now == service.host else f"{now} (moved; its home is {service.host})"
        repos = inventory.repositories_for(name)
        facts = [("tenant", service.tenant or "-"), ("priority", service.priority), ("runs on", runs),
                 ("playbook", service.playbook or "-"), ("data", ", ".join(service.data) or "-"),
                 ("databases", ", ".join(f"{d.engine} {d.name}" for d in service.databases) or "-"),
                 ("repositories", ", ".join(repos) or "-"),
                 ("DNS records", ", ".join(f"{r.name}.{r.zone} {r.type}" if r.name != "@" else f"{r.zone} {r.type}"
                                           for r in service.dns) or "-"),
                 ("fallback", service.fallback or "-"),
                 ("last backup", _when(history.backups.get(name))),
                 ("last drill", _when(history.drills.get(name))),
                 ("last rehearsal", _when(history.rehearsals.get(name)))]
        blocks += [Heading(f"{name}", 3, anchor=f"service-{name}"), Table(("", ""), tuple(facts))]
        lines = [("the newest backup, back in place (asks first; the old data is kept aside)",
                  shlex.join([*chaton, "restore", name])),
                 ("an older snapshot (ids from `chaton snapshots`)",
                  shlex.join([*chaton, "restore", name, "--snapshot", "ID"])),
                 ("rehearse a restore without touching anything", shlex.join([*chaton, "drill", name]))]
        if service.fallback:
            lines += [("its host is dead: move it to the fallback (restore, deploy, DNS switch)",
                       shlex.join([*chaton, "failover", "--to", service.fallback, name])),
                      ("the same, as a rehearsal (no DNS change, undone afterwards)",
                       shlex.join([*chaton, "failover", "--to", service.fallback, name, "--rehearse"])),
                      ("an interrupted failover goes on where it stopped",
                       shlex.join([*chaton, "failover", "--to", service.fallback, name, "--resume"])),
                      ("its host is repaired: bring it home with the data written meanwhile",
                       shlex.join([*chaton, "failback", name]))]
        if service.playbook:
            lines.append(("reinstall it on a fresh machine (then restore)",
                          shlex.join([*chaton, "deploy", name, "--to", "HOST"])))
        blocks.append(Commands(tuple(lines)))
        if repos:
            repo = inventory.repositories[repos[0]]
            ref = inventory.secrets.get(repo.password)
            restic = ["restic", "-r", repo.url, *restic_password_option(ref)]
            blocks.append(Paragraph(f"Without chaton, on {now} (the repository password: "
                                    f"{describe_secret(repo.password, ref)}):"))
            bare = [("its snapshots", shlex.join([*restic, "snapshots", "--tag", service_tag(name)]))]
            if service.data:
                bare.append(("the newest data into a folder to look at",
                             shlex.join([*restic, "restore", "latest", "--tag", service_tag(name),
                                         *(a for p in service.data for a in ("--path", p)), "--target",
                                         f"/tmp/{name}-restore"])))
            blocks.append(Commands(tuple(bare)))
    return blocks


def _repositories(inventory: Inventory) -> list[Block]:
    rows = tuple((name, repo.url, describe_secret(repo.password, inventory.secrets.get(repo.password)),
                  ", ".join(inventory.services_using(name)) or "-") for name, repo in inventory.repositories.items())
    retention = inventory.defaults.retention
    kept = ", ".join(f"{k} {v}" for k, v in retention.model_dump().items() if v)
    return [Heading("Backup repositories (restic)"), Table(("repository", "where", "password", "services"), rows),
            Paragraph(f"Every snapshot is tagged `{CHATON_TAG}` and `service:NAME`. Retention by default: {kept}; "
                      "`chaton backup` forgets, `chaton prune` (weekly) frees the space.")]


def _dns(inventory: Inventory) -> list[Block]:
    if not inventory.dns:
        return []
    rows = tuple((zone, str(z.server), f"TSIG {z.key_name} ({z.algorithm}), {describe_secret(z.key, inventory.secrets.get(z.key))}",
                  f"{z.ttl} s, {z.failover_ttl} s during a failover") for zone, z in inventory.dns.items())
    return [Heading("DNS zones chaton updates"), Table(("zone", "primary server", "update key", "TTL"), rows)]


def _secrets(inventory: Inventory) -> list[Block]:
    rows = tuple((name, describe_secret(name, ref).split(" → ", 1)[1]) for name, ref in inventory.secrets.items())
    return [Heading("Where each secret is kept"),
            Paragraph("Only where to find it: this document never holds a secret's value."),
            Table(("secret", "kept in"), rows)]


def _schedule(inventory: Inventory) -> list[Block]:
    jobs = inventory.schedule.jobs()
    if not jobs:
        return []
    return [Heading("What runs by itself"),
            Paragraph("Installed with `chaton schedule install`; `chaton schedule show` says whether the machine "
                      "still runs what the inventory says."),
            Table(("job", "when (systemd calendar)"), tuple((name, job.on) for name, job in jobs.items()))]


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + _md(block.text), ""]
        elif isinstance(block, Paragraph):
            out += [_md_text(block.text), ""]
        elif isinstance(block, Table):
            header = block.columns if any(block.columns) else ("", "")
            out.append("| " + " | ".join(_md(c) for c in header) + " |")
            out.append("|" + "---|" * len(header))
            out += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block.rows]
            out.append("")
        else:
            for what, command in block.lines:
                out += [_md(what) if what.endswith("?") else f"{_md(what)}:", "", "```sh", command, "```", ""]
    return "\n".join(out).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_text(text: str) -> str:
    return text.replace("\n", " ")


def render_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained page: no script, no external resource; prints well."""
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            anchor = f' id="{html.escape(block.anchor)}"' if block.anchor else ""
            body.append(f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_text(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{html.escape(c)}</th>" for c in block.columns) if any(block.columns) else ""
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                           for row in block.rows)
            body.append(f"<table>{'<thead><tr>' + head + '</tr></thead>' if head else ''}<tbody>{rows}</tbody></table>")
        else:
            items = "".join(f"<dt>{html.escape(what)}</dt><dd><pre>{html.escape(command)}</pre></dd>"
                            for what, command in block.lines)
            body.append(f"<dl>{items}</dl>")
    return PAGE.format(title=html.escape(title), body="\n".join(body))


def _html_text(text: str) -> str:
    """Escaped, with `code` spans."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{part}</code>" if index % 2 else part for index, part in enumerate(parts))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; line-height: 1.4; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border: 1px solid #bbb; padding: .2rem .5rem; text-align: left; vertical-align: top; }}
pre {{ background: #f3f3f3; padding: .4rem; white-space: pre-wrap; word-break: break-all; margin: .2rem 0 .6rem; }}
dt {{ font-weight: bold; }} dd {{ margin-left: 1rem; }}
h3 {{ border-top: 1px solid #ccc; padding-top: .8rem; }}
@media print {{ h3 {{ page-break-before: auto; }} pre {{ background: none; border: 1px solid #ccc; }} }}
</style>
</head>
<body>
{body}
</body>
</html>
"""
