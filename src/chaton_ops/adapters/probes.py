"""Service probes over the network: HTTP(S) with httpx, SMTP with plain sockets and ssl, TCP connects.

Each probe measures its own wall time, stops at its check's timeout and reports failures as text
(refused, timed out, TLS problem) instead of raising: a service that does not answer is a finding,
not an error. httpx is imported on the first HTTP probe only.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
from chaton_ops.core.probes import Certificate, HttpResult, SmtpResult, TcpResult

if TYPE_CHECKING:
    import httpx

BODY_LIMIT = 1024 * 1024  # the expected text is looked for in the first MiB
USER_AGENT = "chaton-ops status"
EHLO_NAME = "chaton-ops.invalid"


def days_left(not_after: dt.datetime, now: dt.datetime | None = None) -> float:
    now = now or dt.datetime.now(dt.UTC)
    return round((not_after - now).total_seconds() / 86400, 1)


def certificate_from_peer(ssl_object: ssl.SSLObject | ssl.SSLSocket, *, trusted: bool = True,
                          problem: str | None = None) -> Certificate | None:
    """Days left of the certificate a TLS peer presented (read from its DER form, which works whether
    or not it was verified)."""
    der = ssl_object.getpeercert(True)  # positional: httpx hands the low-level _ssl object
    if not der:
        return None
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    return Certificate(days_left(certificate.not_valid_after_utc), trusted, problem)


def explain_network_error(error: BaseException, timeout: float) -> str:
    """One short cause for a failed connection or request."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS handshake failed: {error.reason or error}"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the name: {error.strerror}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return f"{type(error).__name__}: {error}".rstrip(": ")


class NetworkProbes:
    """The real probes (the `Probes` port)."""

    def http(self, check: HttpCheck, *, address: str | None = None) -> HttpResult:
        """GET the check's URL; with `address`, from that address, the URL's name kept as the Host header
        and as the TLS name (its certificate is checked against the name members use). Redirects are
        then not followed: they would leave the address for wherever the name resolves."""
        import httpx

        started = time.monotonic()
        deadline = started + check.timeout
        url = httpx.URL(check.url)
        request: dict[str, Any] = {}
        if address is not None:
            request = {"headers": {"Host": url.netloc.decode("ascii")},
                       "extensions": {"sni_hostname": url.host} if url.scheme == "https" else {}}
            url = url.copy_with(host=address)
        try:
            with httpx.Client(timeout=check.timeout, follow_redirects=address is None,
                              headers={"User-Agent": USER_AGENT}, trust_env=address is None) as client, \
                    client.stream("GET", url, **request) as response:
                certificate = _http_certificate(response)
                contains = None
                if check.contains is not None:
                    contains = _body_contains(response, check.contains, deadline, check.timeout)
                status = response.status_code
        except httpx.HTTPError as error:
            return HttpResult(check.url, time.monotonic() - started, error=_explain_httpx(error, check.timeout))
        except TimeoutError:
            return HttpResult(check.url, time.monotonic() - started, error=f"no full answer within {check.timeout:g} s")
        return HttpResult(check.url, time.monotonic() - started, status=status, contains=contains,
                          certificate=certificate)

    def smtp(self, check: SmtpCheck, *, address: str | None = None) -> SmtpResult:
        where = f"{address or check.host}:{check.port}"
        started = time.monotonic()
        try:
            return _smtp_session(check, started, address or check.host)
        except (OSError, ssl.SSLError, _SmtpReplyError) as error:
            reason = str(error) if isinstance(error, _SmtpReplyError) else explain_network_error(error, check.timeout)
            return SmtpResult(where, time.monotonic() - started, error=reason)

    def tcp(self, check: TcpCheck, *, address: str | None = None) -> TcpResult:
        where = f"{address or check.host}:{check.port}"
        started = time.monotonic()
        try:
            with socket.create_connection((address or check.host, check.port), timeout=check.timeout):
                pass
        except OSError as error:
            return TcpResult(where, time.monotonic() - started, error=explain_network_error(error, check.timeout))
        return TcpResult(where, time.monotonic() - started)


def _http_certificate(response: httpx.Response) -> Certificate | None:
    stream: Any = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    return certificate_from_peer(ssl_object) if ssl_object is not None else None


def _body_contains(response: httpx.Response, text: str, deadline: float, timeout: float) -> bool:
    wanted = text.encode("utf-8")
    seen = b""
    for chunk in response.iter_bytes():
        seen += chunk
        if wanted in seen:
            return True
        if len(seen) >= BODY_LIMIT:
            return False
        if time.monotonic() > deadline:
            raise TimeoutError
    encoding = response.encoding or "utf-8"
    return text in seen.decode(encoding, "replace")


def _explain_httpx(error: Exception, timeout: float) -> str:
    import httpx

    cause: BaseException | None = error
    while cause is not None:  # the ssl or socket error underneath says more than httpx's wrapper
        if isinstance(cause, ssl.SSLError | ConnectionRefusedError | socket.gaierror):
            return explain_network_error(cause, timeout)
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(error, httpx.ConnectError) and "refused" in str(error).lower():
        return "connection refused"
    if isinstance(error, httpx.TooManyRedirects):
        return "too many redirects"
    text = str(error) or type(error).__name__
    return text[0].lower() + text[1:] if text else type(error).__name__


# ---------------------------------------------------------------------------------------------
# SMTP
# ---------------------------------------------------------------------------------------------

class _SmtpReplyError(Exception):
    pass


class _Replies:
    """Reads SMTP replies (`250-…` continued, `250 …` last) from a socket, within a deadline."""

    def __init__(self, sock: socket.socket, deadline: float, timeout: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.timeout = timeout
        self.buffer = b""

    def read(self) -> tuple[int, list[str]]:
        lines: list[str] = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise _SmtpReplyError(f"not an SMTP reply: {line[:60]!r}")
            lines.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(line[:3]), lines

    def _line(self) -> str:
        while b"\n" not in self.buffer:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(4096)
            if not chunk:
                raise _SmtpReplyError("the server closed the connection")
            self.buffer += chunk
            if len(self.buffer) > 64 * 1024:
                raise _SmtpReplyError("reply too long")
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")


def _smtp_session(check: SmtpCheck, started: float, connect_to: str) -> SmtpResult:
    """EHLO and STARTTLS with the server at `connect_to` (the check's host, or an address standing for
    it); TLS is verified against the check's host name."""
    address = f"{connect_to}:{check.port}"
    deadline = started + check.timeout
    sock = socket.create_connection((connect_to, check.port), timeout=check.timeout)
    try:
        replies = _Replies(sock, deadline, check.timeout)
        code, lines = replies.read()
        if code != 220:
            raise _SmtpReplyError(f"greeting {code} {' '.join(lines)[:80]} instead of 220")
        banner = lines[0] if lines else ""
        sock.sendall(f"EHLO {EHLO_NAME}\r\n".encode())
        code, lines = replies.read()
        ehlo = code == 250
        offered = ehlo and any(line.upper().split(" ")[0] == "STARTTLS" for line in lines[1:])
        certificate = None
        if check.starttls and offered:
            sock.sendall(b"STARTTLS\r\n")
            code, lines = replies.read()
            if code != 220:
                raise _SmtpReplyError(f"STARTTLS answered {code} {' '.join(lines)[:80]}")
            certificate, sock = _starttls_certificate(sock, check, deadline, connect_to)
        _quit_quietly(sock)
    finally:
        sock.close()
    return SmtpResult(address, time.monotonic() - started, banner=banner, ehlo=ehlo, starttls_offered=offered,
                      certificate=certificate)


def _starttls_certificate(sock: socket.socket, check: SmtpCheck, deadline: float,
                          connect_to: str) -> tuple[Certificate | None, socket.socket]:
    """The certificate after STARTTLS. An untrusted one is read again over a connection that does not
    verify, so that its expiry is still known (mail between servers is opportunistic: untrusted
    certificates still carry mail, and are a warning rather than an outage)."""
    sock.settimeout(max(0.1, deadline - time.monotonic()))
    try:
        tls = ssl.create_default_context().wrap_socket(sock, server_hostname=check.host)
    except ssl.SSLCertVerificationError as error:
        problem = error.verify_message or "not verified"
        try:
            return _unverified_certificate(check, deadline, problem, connect_to), sock
        except (OSError, ssl.SSLError, _SmtpReplyError):
            return Certificate(None, trusted=False, problem=problem), sock
    return certificate_from_peer(tls), tls


def _unverified_certificate(check: SmtpCheck, deadline: float, problem: str, connect_to: str) -> Certificate | None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    remaining = max(0.1, deadline - time.monotonic())
    with socket.create_connection((connect_to, check.port), timeout=remaining) as sock:
        replies = _Replies(sock, deadline, check.timeout)
        replies.read()
        sock.sendall(f"EHLO {EHLO_NAME}\r\n".encode())
        replies.read()
        sock.sendall(b"STARTTLS\r\n")
        code, _ = replies.read()
        if code != 220:
            return Certificate(None, trusted=False, problem=problem)
        with context.wrap_socket(sock, server_hostname=check.host) as tls:
            return certificate_from_peer(tls, trusted=False, problem=problem)


def _quit_quietly(sock: socket.socket) -> None:
    try:
        sock.sendall(b"QUIT\r\n")
    except OSError:
        pass
