"""Choosing a transport from the inventory, and the per-run pool (no network needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaton_ops.adapters.hosts import HostPool, open_transport
from chaton_ops.adapters.local import LocalTransport
from chaton_ops.adapters.ssh import SshTransport
from chaton_ops.core.loader import LoadedInventory, load_inventory
from chaton_ops.errors import UsageError


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedInventory:
    path = tmp_path / "inventory.yml"
    path.write_text(
        "version: 1\n"
        "collective: {name: T, domain: t.example, contact: a@t.example}\n"
        "defaults:\n"
        "  ssh: {user: admin, identity: keys/id_ed25519, known_hosts: ~/kh, connect_timeout: 4}\n"
        "hosts:\n"
        "  localhost: {address: 127.0.0.1}\n"
        "  here: {address: localhost}\n"
        "  web: {address: 10.77.0.2, ssh: {port: 2222, user: root, known_hosts: /etc/chaton/known_hosts}}\n"
        "  loop: {address: 127.0.0.2}\n")
    return load_inventory(path)


def test_a_host_named_or_addressed_localhost_runs_locally(loaded: LoadedInventory) -> None:
    assert isinstance(open_transport(loaded, "localhost"), LocalTransport)
    assert isinstance(open_transport(loaded, "here"), LocalTransport)
    assert open_transport(loaded, "here").host == "here"


def test_other_hosts_get_ssh_with_their_settings_over_the_defaults(loaded: LoadedInventory, tmp_path: Path) -> None:
    web = open_transport(loaded, "web")

    assert isinstance(web, SshTransport)
    assert (web.host, web.address, web.user, web.port) == ("web", "10.77.0.2", "root", 2222)
    assert web.identity == tmp_path / "keys" / "id_ed25519"  # relative to the inventory
    assert web.known_hosts == Path("/etc/chaton/known_hosts")
    assert web.connect_timeout == 4


def test_a_loopback_address_other_than_localhost_still_goes_over_ssh(loaded: LoadedInventory) -> None:
    loop = open_transport(loaded, "loop")

    assert isinstance(loop, SshTransport)
    assert loop.known_hosts == Path.home() / "kh"


def test_an_unknown_host_is_a_usage_error_naming_the_known_ones(loaded: LoadedInventory) -> None:
    with pytest.raises(UsageError) as raised:
        open_transport(loaded, "nope")

    assert str(raised.value) == "unknown host 'nope' (known hosts: here, localhost, loop, web)"


def test_the_pool_hands_out_one_transport_per_host_until_closed(loaded: LoadedInventory) -> None:
    pool = HostPool(loaded)
    web = pool.transport("web")

    assert pool.transport("web") is web
    assert pool.transport("localhost") is not web
    pool.close_all()
    assert pool.transport("web") is not web


def test_the_pool_runs_local_commands_for_localhost(loaded: LoadedInventory) -> None:
    with HostPool(loaded) as pool:
        result = pool.transport("localhost").run(["echo", "hi"])

    assert result.stdout == "hi\n"
