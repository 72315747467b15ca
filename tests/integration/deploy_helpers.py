"""Shared by the deploy tests against the lab: an inventory of the lab with services that use playbooks."""

from __future__ import annotations

from pathlib import Path

import yaml

from chaton_ops.cli.main import main

SITE_ROOT = "/srv/deploy-site"
SITE_NAME = "site.lab.test"


def write_deploy_inventory(
    lab, folder: Path, *, extra_services: dict | None = None, playbooks: Path | None = None
) -> Path:
    """The lab's inventory, every host with service_manager direct (no systemd in the lab), plus
    `site` (static-site), `mail` (postfix-relay) and `pages` (php-pages) on primary, falling back to vps."""
    data = lab.raw.inventory_data()
    for host in data["hosts"].values():
        host["service_manager"] = "direct"
    primary = lab.address("primary")
    data["services"].update(
        {
            "site": {
                "tenant": "lab",
                "host": "primary",
                "playbook": "static-site",
                "fallback": "vps",
                "vars": {"server_name": SITE_NAME},
                "data": [SITE_ROOT],
            },
            "mail": {
                "tenant": "lab",
                "host": "primary",
                "playbook": "postfix-relay",
                "fallback": "vps",
                "priority": "critical",
                "vars": {"relay_to": f"[{primary}]:25"},
            },
            "pages": {
                "tenant": "lab",
                "host": "primary",
                "playbook": "php-pages",
                "fallback": "vps",
                "vars": {"server_name": "pages.lab.test"},
                "data": ["/srv/pages"],
                "databases": [{"engine": "postgres", "name": "pages"}],
            },
            **(extra_services or {}),
        }
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inventory.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if playbooks is not None:
        (folder / "playbooks").symlink_to(playbooks)
    return path


def chaton(*argv: str) -> int:
    return main(list(argv))


def wait_for_page(address: str, server_name: str, contains: str, timeout: float = 10.0) -> str:
    """GET / under `server_name` until the page contains `contains` (≤ timeout s); return the last page.

    `nginx -s reload` returns before the new workers take over: a request right after a deploy may
    still reach the old configuration."""
    import time
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://{address}/", headers={"Host": server_name})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - lab address
                page = response.read().decode()
        except urllib.error.HTTPError as error:
            page = f"HTTP {error.code}"
        if contains in page or time.monotonic() > deadline:
            return page
        time.sleep(0.05)


def post_form(address: str, server_name: str, form: dict[str, str], timeout: float = 10.0) -> str:
    """POST a form to / under `server_name`; return the page it redirects to.

    Like `wait_for_page`: right after a reload an old nginx worker (old configuration: no PHP, so
    405 for a POST) may still take the request; retried only for that, and only within `timeout`."""
    import time
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(f"http://{address}/", data=data, headers={"Host": server_name})
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - lab address
                return response.read().decode()
        except urllib.error.HTTPError as error:
            if error.code != 405 or time.monotonic() > deadline:
                raise
        time.sleep(0.05)
