"""How old each service's newest snapshot is in a repository, against its `max_age_hours` (`chaton check`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from chaton_ops.core.inventory import Inventory


@dataclass(frozen=True)
class Freshness:
    service: str
    repository: str
    newest: dt.datetime | None
    max_age_hours: float

    def age_hours(self, now: dt.datetime) -> float | None:
        return None if self.newest is None else (now - self.newest).total_seconds() / 3600

    def is_stale(self, now: dt.datetime) -> bool:
        age = self.age_hours(now)
        return age is None or age > self.max_age_hours


def evaluate_freshness(
    inventory: Inventory,
    repository: str,
    services: Iterable[str],
    newest_by_service: dict[str, dt.datetime],
) -> list[Freshness]:
    verdicts = []
    for name in services:
        limit = inventory.services[name].max_age_hours or inventory.defaults.max_age_hours
        verdicts.append(Freshness(name, repository, newest_by_service.get(name), limit))
    return verdicts
