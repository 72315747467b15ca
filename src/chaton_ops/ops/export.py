"""`chaton inventory export --format ansible`: the inventory as an Ansible YAML inventory.

For collectives that outgrow the built-in playbooks: every host under `all.hosts` with its
connection variables, groups per kind (`kind_fallback`, …) and per tenant (`tenant_NAME`), and the
services of each host (their vars, data, databases) in the host variable `chaton_services`.
Ansible group names allow letters, digits and `_` only, so `-` becomes `_` in group names.
"""

from __future__ import annotations

from typing import Any

from chaton_ops.core.loader import LoadedInventory

FORMATS = ("ansible",)


def group_name(prefix: str, name: str) -> str:
    return f"{prefix}_{name.replace('-', '_')}"


def export_ansible(loaded: LoadedInventory) -> dict[str, Any]:
    """The Ansible inventory as plain data (dump it with yaml.safe_dump)."""
    inventory = loaded.inventory
    hosts: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for name, host in inventory.hosts.items():
        ssh = inventory.ssh_for(name)
        variables: dict[str, Any] = {"ansible_host": host.address, "ansible_port": ssh.port,
                                     "ansible_user": ssh.user, "chaton_kind": host.kind}
        if ssh.identity:
            variables["ansible_ssh_private_key_file"] = str(loaded.resolve_path(ssh.identity))
        if ssh.known_hosts:
            # chaton verifies host keys against this file; keep Ansible just as strict
            variables["ansible_ssh_common_args"] = (f"-o UserKnownHostsFile={loaded.resolve_path(ssh.known_hosts)} "
                                                    "-o StrictHostKeyChecking=yes")
        services = {service_name: _service_vars(loaded, service_name) for service_name in inventory.services_on(name)}
        if services:
            variables["chaton_services"] = services
        hosts[name] = variables
        groups.setdefault(group_name("kind", host.kind), {"hosts": {}})["hosts"][name] = None
    for service in inventory.services.values():
        if service.tenant is not None:
            groups.setdefault(group_name("tenant", service.tenant), {"hosts": {}})["hosts"][service.host] = None
    collective = inventory.collective.model_dump()
    return {"all": {"hosts": hosts, "vars": {"chaton_collective": collective},
                    "children": dict(sorted(groups.items()))}}


def _service_vars(loaded: LoadedInventory, name: str) -> dict[str, Any]:
    service = loaded.inventory.services[name]
    return {
        "tenant": service.tenant,
        "priority": service.priority,
        "playbook": service.playbook,
        "vars": service.vars,
        "data": list(service.data),
        "databases": [database.model_dump(exclude_none=True) for database in service.databases],
        "fallback": service.fallback,
    }


def export_inventory_text(loaded: LoadedInventory, output_format: str) -> str:
    import yaml

    data = export_ansible(loaded)
    header = f"# Ansible inventory exported by `chaton inventory export --format {output_format}`\n"
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True, width=1000)
