"""The members' status page: valid HTML, self-contained, every public service in plain words."""

from __future__ import annotations

import datetime as dt
from html.parser import HTMLParser

from chaton_ops.core.alerting import AlertState, Incident, Tracked
from chaton_ops.core.health import Finding, StatusReport
from chaton_ops.core.inventory import Inventory
from chaton_ops.core.status_page import Move, render_status_page

NOW = dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.UTC)
INVENTORY = Inventory.model_validate({
    "version": 1,
    "collective": {"name": "Ti <Nuage> & co", "domain": "ti-nuage.example", "contact": "admins@ti-nuage.example"},
    "hosts": {"web": {"address": "192.0.2.23"}, "mail": {"address": "192.0.2.21"}},
    "services": {
        "www": {"host": "web", "description": "Our website", "dns": [{"zone": "ti-nuage.example", "name": "www"}],
                "check": {"http": {"url": "http://192.0.2.23/"}}},
        "mx": {"host": "mail", "check": {"smtp": {"host": "192.0.2.21"}}},
        "pads": {"host": "web", "dns": [{"zone": "ti-nuage.example", "name": "pad"}]},
        "backups-only": {"host": "web", "data": ["/srv/x"]},
    },
})


class PageParser(HTMLParser):
    """Collects tags, text, and anything that would load an external asset or run a script."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []
        self.external: list[str] = []
        self.scripts = 0
        self.services: dict[str, str] = {}
        self._in_service: list[str] | None = None
        self.viewport = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag not in ("meta", "link", "br", "img", "input"):
            self.open.append(tag)
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "img", "iframe") or (tag == "a" and not (values.get("href") or "").startswith("mailto:")):
            self.external.append(tag)
        if tag == "meta" and values.get("name") == "viewport":
            self.viewport = True
        if tag == "li" and "service" in (values.get("class") or ""):
            self._in_service = []

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1] if self.open else None}>"
        self.open.pop()
        if tag == "li" and self._in_service is not None:
            name, *rest = self._in_service
            self.services[name] = " ".join(rest)
            self._in_service = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())
            if self._in_service is not None:
                self._in_service.append(data.strip())


def parse(html: str) -> PageParser:
    parser = PageParser()
    parser.feed(html)
    parser.close()
    assert parser.open == [], f"unclosed: {parser.open}"
    return parser


def test_the_page_parses_lists_every_public_service_and_shows_a_failed_one_as_down() -> None:
    report = StatusReport(NOW, (
        Finding("services", "www", "http", "critical", "connection refused by 192.0.2.23", item="u", host="web",
                service="www"),
        Finding("services", "mx", "smtp", "ok", "220", host="mail", service="mx"),
        Finding("services", "pads", "dns", "warning", "ttl", host="web", service="pads"),
    ))
    state = AlertState(findings={"public/www": Tracked("critical", "2026-11-22T11:30:00+00:00", 6, "critical")},
                       incidents=(Incident("www", "critical", "2026-11-22T11:30:00+00:00"),
                                  Incident("mx", "critical", "2026-11-20T08:00:00+00:00", "2026-11-20T09:15:00+00:00")))

    html = render_status_page(INVENTORY, report, state, [Move("www", True, NOW - dt.timedelta(days=2))], now=NOW)
    page = parse(html)

    assert page.scripts == 0 and page.external == [] and page.viewport
    assert set(page.services) == {"www", "mx", "pads"}  # backups-only is not public
    assert page.services["www"].startswith("Down")
    assert "www.ti-nuage.example · Our website" in page.services["www"]
    assert "(30 min)" in page.services["www"]
    assert page.services["mx"] == "Working normally"
    assert page.services["pads"].startswith("Working, with a minor problem")
    assert list(page.services)[0] == "www"  # worst first
    text = " ".join(page.text)
    assert "Some services are down" in text
    assert "www down since" in text and "ongoing" in text
    assert "mx down from" in text and "(1 h 15 min)" in text
    assert "www moved to our standby server" in text
    assert "192.0.2" not in html  # no address, no error text for the public
    assert "Ti &lt;Nuage&gt; &amp; co" in html


def test_all_well_and_nothing_recorded() -> None:
    report = StatusReport(NOW, (Finding("services", "mx", "smtp", "ok", "220", host="mail", service="mx"),))

    page = parse(render_status_page(INVENTORY, report, AlertState(), [], now=NOW))

    text = " ".join(page.text)
    assert "All services are working normally." not in text  # www and pads were not checked
    assert "Some services could not be checked right now." in text
    assert page.services["www"] == "Not checked right now www.ti-nuage.example · Our website"
    assert "No incident recorded recently." in text and "No service was moved recently." in text


def test_a_service_in_maintenance_says_so() -> None:
    report = StatusReport(NOW, (Finding("services", "mx", "smtp", "critical", "refused", host="mail", service="mx",
                                        silenced="mail in maintenance until 14:00"),))

    page = parse(render_status_page(INVENTORY, report, AlertState(), [], now=NOW))

    assert page.services["mx"] == "Under maintenance"
