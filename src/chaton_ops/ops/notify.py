"""Tell people and monitors how a run went: healthchecks pings and apprise messages, through the
Notifier port (core/ports.py; the composition roots hand down the real one: ops/backup_run.py for a
backup, ops/compose.py `announce_run` for every other command that changes something).

`send_run_notifications`: the backup's pings and messages, from its RunReport. `send_run_summary`:
the apprise messages of any other command's run, from its RunSummary (no pings: healthchecks are
the backup's dead-man's switch).

Delivery problems are returned, never raised: a monitor that is down must not turn a good backup
into a failed run. The caller shows them as warnings. URLs are secrets, resolved only here, right
before sending; problems name the secret, never its value.

Recoveries need the previous status of each service: it is kept between runs (the LastStatuses port;
a small state file, adapters/run_state.py) rather than derived from the journal, so notifications do not depend on how
each command names its journal steps, and a journal cleanup does not fake a recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.masking import SecretValue, mask_text, register_secret
from chaton_ops.core.notifications import (
    Message,
    NotificationPlan,
    Ping,
    apprise_configured,
    ping_url,
    plan_notifications,
    plan_run_messages,
    plan_start_pings,
)
from chaton_ops.core.ports import LastStatuses, Notifier, Secrets
from chaton_ops.core.report import RunReport
from chaton_ops.core.run_report import RunSummary
from chaton_ops.errors import PathError, SecretError

log = logging.getLogger(__name__)


def send_start_pings(loaded: LoadedInventory, services: Iterable[str], notifier: Notifier, *,
                     secrets: Secrets) -> list[str]:
    """Send `/start` to the run's healthchecks URLs and to those of `services` (their URLs from
    `secrets`); return delivery problems."""
    known = _Secrets(secrets)
    return [problem for ping in plan_start_pings(loaded.inventory, tuple(services))
            if (problem := _deliver_ping(known, notifier, ping)) is not None]


def send_run_notifications(loaded: LoadedInventory, run: RunReport, notifier: Notifier, last_statuses: LastStatuses,
                           *, secrets: Secrets, previous: dict[str, str] | None = None) -> list[str]:
    """Ping healthchecks and send apprise messages for `run` (their URLs from `secrets`); return
    delivery problems (never raises for them).

    `previous` is the last status per service; by default it is read from `last_statuses`, which is
    then updated with this run's statuses.
    """
    problems: list[str] = []
    if previous is None:
        previous = _previous(last_statuses, run.command, problems)
    plan = plan_notifications(loaded.inventory, run, previous)
    return _send(plan, run.command, notifier, last_statuses, secrets, problems)


def send_run_summary(loaded: LoadedInventory, summary: RunSummary | None, notifier: Notifier,
                     last_statuses: LastStatuses, *, secrets: Secrets) -> list[str]:
    """Send the apprise messages of a run of any command but backup (`summary` None: a dry run or a
    plan refused before it started: nothing is sent); remember each subject's status for the next run
    of the same command; return delivery problems (never raises for them). Without any apprise
    destination in the inventory nothing is read or remembered either."""
    if summary is None or not summary.steps or not apprise_configured(loaded.inventory):
        return []
    problems: list[str] = []
    previous = _previous(last_statuses, summary.command, problems)
    plan = plan_run_messages(loaded.inventory, summary, previous)
    return _send(plan, summary.command, notifier, last_statuses, secrets, problems)


def _previous(last_statuses: LastStatuses, command: str, problems: list[str]) -> dict[str, str]:
    try:
        return last_statuses.load(command)
    except ValueError as error:
        problems.append(f"notifications: previous statuses unknown, recoveries not reported: {error}")
        return {}


def _send(plan: NotificationPlan, command: str, notifier: Notifier, last_statuses: LastStatuses, secrets: Secrets,
          problems: list[str]) -> list[str]:
    known = _Secrets(secrets)
    for ping in plan.pings:
        if (problem := _deliver_ping(known, notifier, ping)) is not None:
            problems.append(problem)
    for message in plan.messages:
        if (problem := _deliver_message(known, notifier, message)) is not None:
            problems.append(problem)
    try:
        last_statuses.save(command, plan.statuses)
    except PathError as error:
        problems.append(f"notifications: cannot record this run's statuses: {error.message}")
    return [mask_text(problem) for problem in problems]


class _Secrets:
    """Each secret resolved at most once per call; a failure is remembered as a problem text."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.cache: dict[str, SecretValue | str] = {}

    def get(self, name: str) -> SecretValue | str:
        if name not in self.cache:
            try:
                self.cache[name] = self.secrets.resolve(name)
            except SecretError as error:
                self.cache[name] = error.message
        return self.cache[name]


def _deliver_ping(secrets: _Secrets, notifier: Notifier, ping: Ping) -> str | None:
    what = f"healthchecks ping '{ping.secret}' ({ping.signal}, {ping.scope})"
    secret = secrets.get(ping.secret)
    if isinstance(secret, str):
        return f"{what} not sent: {secret}"
    url = ping_url(secret.reveal(), ping.signal)
    register_secret(url)  # the base without its trailing '/' may not contain the registered value
    if (failure := notifier.ping(url, mask_text(ping.body))) is not None:
        return f"{what} failed: {failure}"
    log.debug("%s delivered", what)
    return None


def _deliver_message(secrets: _Secrets, notifier: Notifier, message: Message) -> str | None:
    what = f"apprise '{message.secret}' ({message.notify_type})"
    secret = secrets.get(message.secret)
    if isinstance(secret, str):
        return f"{what} not sent: {secret}"
    failure = notifier.send(secret.reveal(), mask_text(message.title), mask_text(message.body), message.notify_type)
    if failure is not None:
        return f"{what} failed: {failure}"
    log.debug("%s delivered", what)
    return None
