"""Service probes as data: what an HTTP, SMTP or TCP probe saw (filled by adapters/probes.py) and the
findings it gives against the thresholds. No network here."""

from __future__ import annotations

from dataclasses import dataclass

from chaton_ops.core.health import Finding, Level, Limits, level_at_least, level_at_most, worst
from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck


@dataclass(frozen=True)
class Certificate:
    """The certificate a TLS server presented."""

    days_left: float | None  # None: presented but not readable again
    trusted: bool = True  # verified against the system's CAs for the name asked
    problem: str | None = None  # why it is not trusted


@dataclass(frozen=True)
class HttpResult:
    url: str
    elapsed: float
    status: int | None = None
    contains: bool | None = None  # whether the body held the expected text (None: nothing expected)
    certificate: Certificate | None = None
    error: str | None = None  # the request failed (refused, timed out, TLS, …)


@dataclass(frozen=True)
class SmtpResult:
    address: str
    elapsed: float
    banner: str | None = None
    ehlo: bool = False
    starttls_offered: bool | None = None
    certificate: Certificate | None = None
    error: str | None = None


@dataclass(frozen=True)
class TcpResult:
    address: str
    elapsed: float
    error: str | None = None


def _service_finding(service: str, host: str, check: str, level: Level, summary: str, **extra: object) -> Finding:
    return Finding("services", service, check, level, summary, host=host, service=service, **extra)  # type: ignore[arg-type]


def _timing(elapsed: float, limits: Limits) -> tuple[Level, str]:
    level = level_at_least(elapsed, limits.response_seconds)
    note = f" (slower than {limits.response_seconds:g} s)" if level != "ok" else ""
    return level, f"{elapsed:.2f} s{note}"


def _certificate_verdict(certificate: Certificate | None, limits: Limits, *, untrusted: Level) -> tuple[Level, str]:
    if certificate is None:
        return "ok", ""
    level: Level
    days = certificate.days_left
    if days is None:
        level, text = "unknown", "certificate expiry unknown"
    elif days < 0:
        level = "critical"
        text = f"certificate expired {-days:.0f} days ago"
    else:
        level = level_at_most(days, limits.certificate_days, limits.certificate_critical_days)
        text = f"certificate valid {days:.0f} more days"
    if not certificate.trusted:
        level = worst((level, untrusted))
        text += f", not trusted: {certificate.problem or 'unknown issuer'}"
    return level, text


def evaluate_http(service: str, host: str, check: HttpCheck, result: HttpResult, limits: Limits) -> Finding:
    numbers = {"value": round(result.elapsed, 3), "unit": "s", "warning": limits.response_seconds}
    if result.error is not None:
        return _service_finding(service, host, "http", "critical", f"{check.url}: {result.error}", item=check.url,
                                **numbers)
    levels: list[Level] = []
    parts = [f"HTTP {result.status}"]
    if result.status != check.status:
        levels.append("critical")
        parts[0] += f" (expected {check.status})"
    if result.contains is False:
        levels.append("critical")
        parts.append(f"the page lacks {check.contains!r}")
    timing_level, timing = _timing(result.elapsed, limits)
    levels.append(timing_level)
    parts.append("in " + timing)
    cert_level, cert_text = _certificate_verdict(result.certificate, limits, untrusted="critical")
    if cert_text:
        levels.append(cert_level)
        parts.append(cert_text)
    return _service_finding(service, host, "http", worst(levels), ", ".join(parts), item=check.url, **numbers)


def evaluate_smtp(service: str, host: str, check: SmtpCheck, result: SmtpResult, limits: Limits) -> Finding:
    item = f"{check.host}:{check.port}"
    numbers = {"value": round(result.elapsed, 3), "unit": "s", "warning": limits.response_seconds}
    if result.error is not None:
        return _service_finding(service, host, "smtp", "critical", f"{item}: {result.error}", item=item, **numbers)
    levels: list[Level] = []
    banner = (result.banner or "").strip()
    parts = [f"220 {banner[:60]}" if banner else "220"]
    if check.banner_contains and check.banner_contains not in banner:
        levels.append("critical")
        parts.append(f"the banner lacks {check.banner_contains!r}")
    if not result.ehlo:
        levels.append("critical")
        parts.append("EHLO refused")
    if check.starttls:
        if not result.starttls_offered:
            levels.append("warning")
            parts.append("STARTTLS not offered: mail travels in clear")
        else:
            cert_level, cert_text = _certificate_verdict(result.certificate, limits, untrusted="warning")
            levels.append(cert_level)
            parts.append("STARTTLS, " + cert_text if cert_text else "STARTTLS")
    timing_level, timing = _timing(result.elapsed, limits)
    levels.append(timing_level)
    parts.append("in " + timing)
    return _service_finding(service, host, "smtp", worst(levels), ", ".join(parts), item=item, **numbers)


def evaluate_tcp(service: str, host: str, check: TcpCheck, result: TcpResult, limits: Limits) -> Finding:
    item = f"{check.host}:{check.port}"
    numbers = {"value": round(result.elapsed, 3), "unit": "s", "warning": limits.response_seconds}
    if result.error is not None:
        return _service_finding(service, host, "tcp", "critical", f"{item}: {result.error}", item=item, **numbers)
    level, timing = _timing(result.elapsed, limits)
    return _service_finding(service, host, "tcp", level, f"connected in {timing}", item=item, **numbers)
