"""What an HTTP, SMTP or TCP probe saw, judged against the thresholds."""

from __future__ import annotations

import pytest

from chaton_ops.core.health import BUILT_IN_THRESHOLDS, Limits
from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
from chaton_ops.core.probes import (
    Certificate,
    HttpResult,
    SmtpResult,
    TcpResult,
    evaluate_http,
    evaluate_smtp,
    evaluate_tcp,
)

LIMITS = Limits(**BUILT_IN_THRESHOLDS.model_dump())  # type: ignore[arg-type]
HTTP = HttpCheck(url="https://cloud.example/status.php", contains="installed")
SMTP = SmtpCheck(host="mx.example", banner_contains="ESMTP")


@pytest.mark.parametrize(("result", "level", "text"), [
    (HttpResult(HTTP.url, 0.2, 200, True, Certificate(80)), "ok", "HTTP 200, in 0.20 s, certificate valid 80 more days"),
    (HttpResult(HTTP.url, 0.2, 503, True), "critical", "HTTP 503 (expected 200)"),
    (HttpResult(HTTP.url, 0.2, 200, False), "critical", "the page lacks 'installed'"),
    (HttpResult(HTTP.url, 2.5, 200, True), "warning", "slower than 2 s"),
    (HttpResult(HTTP.url, 0.2, 200, True, Certificate(10)), "warning", "certificate valid 10 more days"),
    (HttpResult(HTTP.url, 0.2, 200, True, Certificate(2)), "critical", "certificate valid 2 more days"),
    (HttpResult(HTTP.url, 0.2, 200, True, Certificate(-3)), "critical", "certificate expired 3 days ago"),
    (HttpResult(HTTP.url, 10.0, error="no answer within 10 s"), "critical", "no answer within 10 s"),
])
def test_http(result: HttpResult, level: str, text: str) -> None:
    finding = evaluate_http("cloud", "web", HTTP, result, LIMITS)

    assert finding.level == level and text in finding.summary
    assert finding.section == "services" and finding.host == "web" and finding.item == HTTP.url


@pytest.mark.parametrize(("result", "level", "text"), [
    (SmtpResult("mx.example:25", 0.3, "mx.example ESMTP Postfix", True, True, Certificate(60)), "ok",
     "STARTTLS, certificate valid 60 more days"),
    (SmtpResult("mx.example:25", 0.3, "mx.example ESMTP Postfix", True, False), "warning", "STARTTLS not offered"),
    (SmtpResult("mx.example:25", 0.3, "mx.example ESMTP Postfix", True, True,
                Certificate(60, trusted=False, problem="self-signed certificate")), "warning",
     "not trusted: self-signed certificate"),
    (SmtpResult("mx.example:25", 0.3, "mx.example ESMTP Postfix", True, True, Certificate(-1, trusted=False)),
     "critical", "expired"),
    (SmtpResult("mx.example:25", 0.3, "mx.example Microsoft", True, True, Certificate(60)), "critical",
     "the banner lacks 'ESMTP'"),
    (SmtpResult("mx.example:25", 0.3, "mx.example ESMTP", False), "critical", "EHLO refused"),
    (SmtpResult("mx.example:25", 5.0, error="connection refused"), "critical", "mx.example:25: connection refused"),
])
def test_smtp(result: SmtpResult, level: str, text: str) -> None:
    finding = evaluate_smtp("mx", "mail", SMTP, result, LIMITS)

    assert finding.level == level and text in finding.summary


def test_smtp_without_starttls_expected() -> None:
    check = SmtpCheck(host="relay.example", starttls=False)

    finding = evaluate_smtp("relay", "mail", check, SmtpResult("relay.example:25", 0.1, "relay", True, False), LIMITS)

    assert finding.level == "ok"


def test_tcp() -> None:
    check = TcpCheck(host="imap.example", port=993)

    assert evaluate_tcp("imap", "mail", check, TcpResult("imap.example:993", 0.01), LIMITS).level == "ok"
    refused = evaluate_tcp("imap", "mail", check, TcpResult("imap.example:993", 0.01, "connection refused"), LIMITS)
    assert refused.level == "critical" and refused.summary == "imap.example:993: connection refused"
