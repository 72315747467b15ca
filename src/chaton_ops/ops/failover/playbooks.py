"""What a service's playbook offers a failover: stop commands, after_restore steps."""

from __future__ import annotations

from dataclasses import dataclass

from chaton_ops.core.loader import LoadedInventory
from chaton_ops.core.playbook import find_playbook, load_playbook, playbook_search_path


@dataclass(frozen=True)
class PlaybookFeatures:
    stop: bool = False
    after_restore: bool = False


def playbook_features(loaded: LoadedInventory, service: str, host: str) -> PlaybookFeatures:
    name = loaded.inventory.services[service].playbook
    if name is None:
        return PlaybookFeatures()
    playbook = load_playbook(find_playbook(name, playbook_search_path(loaded.base_dir))).playbook
    return PlaybookFeatures(stop=bool(getattr(playbook, "stop", None)), after_restore=bool(playbook.after_restore))
