"""Proxmox guests as findings of `chaton status` (the `vms` section), from `vm_health` (core/vm_health.py):
a guest the inventory describes that is not running, or that its cluster does not have, is critical (a
virtual server that did not come back after its node rebooted); one that would not start with its node
(`onboot` off), is locked, was migrated or has no recent vzdump archive is a warning."""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence

from chaton_ops.core.health import Finding, Level
from chaton_ops.core.vm_health import GuestHealth


def guest_level(guest: GuestHealth) -> Level:
    if guest.ok:
        return "ok"
    if guest.running is not True:  # stopped, missing from the cluster, or its node is offline
        return "critical"
    return "warning"


def describe_guest(guest: GuestHealth) -> str:
    if guest.problems:
        return "; ".join(guest.problems)
    parts = ["running" if guest.running else "stopped", "onboot" if guest.onboot else "onboot off"]
    if guest.last_archive_age_hours is not None:
        parts.append(f"last vzdump {guest.last_archive_age_hours:.0f} h ago")
    return ", ".join(parts)


def evaluate_guests(guests: Sequence[GuestHealth], errors: Mapping[str, str],
                    hosts: Container[str] | None = None) -> list[Finding]:
    """One finding per guest that an inventory host describes (guests nobody describes are `chaton vm
    list`'s drift, not a service's health), one per cluster that could not be read; `hosts` limits them."""
    findings = []
    for guest in guests:
        if guest.host is None or (hosts is not None and guest.host not in hosts):
            continue
        findings.append(Finding(
            "vms", guest.host, "guest", guest_level(guest), describe_guest(guest),
            item=f"{guest.cluster}/{guest.vmid}", host=guest.host,
            value=guest.last_archive_age_hours, unit="h", warning=guest.archive_max_age_hours))
    for cluster, error in errors.items():
        findings.append(Finding("vms", cluster, "api", "unknown", f"cluster not read: {error}"))
    return findings
