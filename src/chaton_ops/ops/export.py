"""`chaton inventory export --format ansible`: the inventory as an Ansible YAML inventory.

For collectives that outgrow the built-in playbooks: every host under `all.hosts` with its
connection variables, groups per kind (`kind_fallback`, …) and per tenant (`tenant_NAME`), and the
services of each host (their vars, data, databases) in the host variable `chaton_services`.
Ansible group names allow letters, digits and `_` only, so `-` becomes `_` in group names.

Written the way Ansible reads it: `ansible_ssh_common_args` is split by Ansible with shlex.split, so it
is built with shlex.join (a known_hosts path stays one argument, whatever it holds); and every string
value is tagged `!unsafe`, so that Ansible never evaluates `{{ … }}` found in a value from the inventory.
"""

from __future__ import annotations

import shlex
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
            variables["ansible_ssh_common_args"] = ssh_common_args(str(loaded.resolve_path(ssh.known_hosts)))
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


def ssh_common_args(known_hosts: str) -> str:
    """What Ansible splits (shlex) into: -o UserKnownHostsFile=PATH -o StrictHostKeyChecking=yes.

    ssh then reads the option value with its own rules (whitespace separates files, quotes group): the
    inventory refuses such paths (core/values.check_ssh_path), and the path is double-quoted for ssh too."""
    return shlex.join(["-o", f'UserKnownHostsFile="{known_hosts}"', "-o", "StrictHostKeyChecking=yes"])


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


class Unsafe(str):
    """A string Ansible must take as it is (YAML tag !unsafe: never templated)."""


def mark_unsafe(value: Any) -> Any:
    """Every string value (not the keys: names of hosts, groups and variables) as Unsafe."""
    if isinstance(value, str):
        return Unsafe(value)
    if isinstance(value, dict):
        return {key: mark_unsafe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mark_unsafe(item) for item in value]
    return value


def export_inventory_text(loaded: LoadedInventory, output_format: str) -> str:
    import yaml

    class AnsibleDumper(yaml.SafeDumper):
        pass

    AnsibleDumper.add_representer(Unsafe, lambda dumper, data: dumper.represent_scalar("!unsafe", str(data)))
    data = mark_unsafe(export_ansible(loaded))
    header = f"# Ansible inventory exported by `chaton inventory export --format {output_format}`\n"
    return header + yaml.dump(data, Dumper=AnsibleDumper, sort_keys=False, default_flow_style=False,
                              allow_unicode=True, width=1000)
