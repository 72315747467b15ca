"""`chaton failover` and `chaton failback` as one use case (`move_services`), and their composition
root (`failover_context`): the inventory (placed), the hosts' connections, the journal, the DNS servers
(with their TSIG keys), the probes, the repositories' passwords and chaton's locks (the services a run
moves: core/locks.py), handed to the use cases of ops/failover/ as one FailoverContext. Once a run
has applied (or resumed), the admins are told how it went (ops/compose.py `announce_run`): failover
and failback always, whatever `notify.events` says; a rehearsal as `notify.events` says."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.errors import UsageError
from chaton_ops.ops.engine import EventSink
from chaton_ops.ops.failover.context import FailoverContext
from chaton_ops.ops.failover.run import RunbookReport


@contextmanager
def failover_context(loaded: LoadedInventory, *, jobs: int = 2) -> Iterator[FailoverContext]:
    from chaton_ops.adapters.dns import Rfc2136Dns
    from chaton_ops.adapters.hosts import HostPool
    from chaton_ops.adapters.journal import Journal, default_journal_path
    from chaton_ops.adapters.probes import NetworkProbes
    from chaton_ops.adapters.run_locks import FileLocks
    from chaton_ops.adapters.secrets import InventorySecrets
    from chaton_ops.adapters.templates import TemplateRenderer

    inventory = loaded.inventory
    secrets = InventorySecrets(loaded)
    used_zones = {r.zone for s in inventory.services.values() for r in s.dns}
    tsig = {zone: secrets.resolve(inventory.dns[zone].key).reveal() for zone in sorted(used_zones)}
    passwords = {name: secrets.resolve(repo.password).reveal() for name, repo in inventory.repositories.items()
                 if inventory.services_using(name)}
    dns = Rfc2136Dns(inventory.dns, tsig) if used_zones else None
    with Journal(default_journal_path()) as journal, HostPool(loaded) as pool:
        yield FailoverContext(loaded=loaded, transports=pool.transport, journal=journal, dns=dns,
                              probes=NetworkProbes(), templates=TemplateRenderer, passwords=passwords, secrets=secrets, jobs=jobs,
                              locks=FileLocks())


@dataclass(frozen=True)
class MoveRequest:
    """What the person asked: a failover, a rehearsal or a failback, new, resumed or set aside."""

    command: Literal["failover", "rehearsal", "failback"]
    services: tuple[str, ...] = ()
    to: str | None = None  # failover, rehearsal: the fallback
    source: str | None = None  # failover: move what runs on this host
    resume: bool = False
    abandon: bool = False
    final_backup: bool = True  # failover: stop and back up a source that still answers
    stop_first: bool = False  # failback
    clean: bool = False  # failback
    dry_run: bool = False
    jobs: int = 2


@dataclass(frozen=True)
class MoveOutcome:
    """What came of it: the run's report (a run applied or resumed), the run set aside (--abandon: None
    when there was none), or neither (a dry run)."""

    report: RunbookReport | None = None
    set_aside: int | None = None


def move_services(loaded: LoadedInventory, request: MoveRequest, *, show: Callable[[Any], None],
                  confirm: Callable[[str], None], warn: Callable[[str], None],
                  on_event: EventSink | None = None) -> MoveOutcome:
    """`chaton failover|failback` as one use case: set aside or resume an unfinished run, or preflight
    (changing nothing), `show` the plan, refuse what the preflight refused, stop there for a dry run,
    `confirm` (raises when not confirmed), then apply, then tell the admins how the run went (delivery
    problems to `warn`: never a failed run). `show` gets a FailoverPlan (failover, rehearsal) or the
    failback's Plan."""
    from chaton_ops.ops.compose import announce_run

    outcome = _move(loaded, request, show=show, confirm=confirm, on_event=on_event)
    if outcome.report is not None:
        announce_run(loaded, outcome.report.run.summary(), warn)
    return outcome


def _move(loaded: LoadedInventory, request: MoveRequest, *, show: Callable[[Any], None],
          confirm: Callable[[str], None], on_event: EventSink | None) -> MoveOutcome:
    from chaton_ops.core.failover import select_failover_services
    from chaton_ops.ops.failover import run as usecase

    command = request.command
    with failover_context(loaded, jobs=request.jobs) as context:
        if request.abandon:
            return MoveOutcome(set_aside=usecase.abandon_unfinished(context, command))
        if request.resume:
            run_id = usecase.unfinished_run(context, command)
            if run_id is None:
                raise UsageError(f"no unfinished {command} to resume")
            apply = usecase.apply_failback if command == "failback" else usecase.apply_failover
            return MoveOutcome(apply(context, None, args=[], on_event=on_event, resume_run=run_id))
        if command == "failback":
            usecase.refuse_if_unfinished(context, command)
            plan = usecase.prepare_failback(context, list(request.services), stop_first=request.stop_first,
                                            clean=request.clean)
            show(plan)
            if request.dry_run:
                return MoveOutcome()
            names = plan.inputs["services"]
            confirm(f"bring {', '.join(names)} home: restore there and switch DNS back")
            args = [*names, *(["--stop-first"] if request.stop_first else []), *(["--clean"] if request.clean else [])]
            return MoveOutcome(usecase.apply_failback(context, plan, args=args, on_event=on_event))
        to = request.to
        if to is None:
            raise UsageError("say where to: --to HOST (a host of kind fallback)")
        rehearse = command == "rehearsal"
        usecase.refuse_if_unfinished(context, command)
        names = select_failover_services(context.inventory, to, list(request.services), source=request.source)
        started = context.clock()
        prepared = usecase.prepare_failover(context, names, to, final_backup=request.final_backup, rehearse=rehearse)
        show(prepared)
        if prepared.refusals:
            raise usecase.FailoverRefused([*prepared.refusals, "nothing was changed"],
                                          unreachable=any(r.startswith("the fallback ") for r in prepared.refusals))
        if request.dry_run:
            return MoveOutcome()
        confirm(f"rehearse the failover of {', '.join(names)} on {to} (it is undone afterwards)" if rehearse else
                f"fail {', '.join(names)} over to {to}: replace their data there and switch their DNS records")
        args = [*names, "--to", to, *(["--rehearse"] if rehearse else []),
                *(["--no-final-backup"] if not request.final_backup else [])]
        return MoveOutcome(usecase.apply_failover(context, prepared, args=args, on_event=on_event, started=started))
