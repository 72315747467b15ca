"""Probes against real servers on 127.0.0.1: http.server over HTTP and HTTPS (a test CA), raw sockets."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chaton_ops.adapters.probes import NetworkProbes
from chaton_ops.core.inventory import HttpCheck, SmtpCheck, TcpCheck
from tests.certificates import make_ca_and_certificate

PAGE = b"<h1>Ti Nuage</h1>"


class Handler(BaseHTTPRequestHandler):
    delay = 0.0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        time.sleep(self.delay)
        status = 404 if self.path == "/missing" else 200
        self.send_response(status)
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(context: ssl.SSLContext | None = None, delay: float = 0.0) -> tuple[ThreadingHTTPServer, int]:
    handler = type("H", (Handler,), {"delay": delay})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


@pytest.fixture
def http_server() -> Iterator[int]:
    server, port = serve()
    yield port
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_http_status_text_and_time(http_server: int) -> None:
    result = NetworkProbes().http(HttpCheck(url=f"http://127.0.0.1:{http_server}/", contains="Ti Nuage"))

    assert (result.status, result.contains, result.error, result.certificate) == (200, True, None, None)
    assert 0 < result.elapsed < 2


def test_http_wrong_status_and_missing_text(http_server: int) -> None:
    probes = NetworkProbes()

    assert probes.http(HttpCheck(url=f"http://127.0.0.1:{http_server}/missing")).status == 404
    assert probes.http(HttpCheck(url=f"http://127.0.0.1:{http_server}/", contains="Nextcloud")).contains is False


def test_http_refused_and_timed_out() -> None:
    refused = NetworkProbes().http(HttpCheck(url=f"http://127.0.0.1:{closed_port()}/"))
    server, port = serve(delay=3)
    try:
        slow = NetworkProbes().http(HttpCheck(url=f"http://127.0.0.1:{port}/", timeout=0.5))
    finally:
        server.shutdown()
        server.server_close()

    assert refused.error == "connection refused"
    assert slow.error == "no answer within 0.5 s" and slow.elapsed < 2


def test_https_certificate_days_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = make_ca_and_certificate(tmp_path, "localhost", days=10)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server, port = serve(context)
    try:
        untrusted = NetworkProbes().http(HttpCheck(url=f"https://localhost:{port}/"))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        trusted = NetworkProbes().http(HttpCheck(url=f"https://localhost:{port}/"))
    finally:
        server.shutdown()
        server.server_close()

    assert trusted.error is None and trusted.status == 200
    assert trusted.certificate is not None and 9.5 < (trusted.certificate.days_left or 0) <= 10
    assert untrusted.error is not None and untrusted.error.startswith("TLS certificate not trusted")


def test_tcp_connect_and_refusal(http_server: int) -> None:
    assert NetworkProbes().tcp(TcpCheck(host="127.0.0.1", port=http_server)).error is None
    assert NetworkProbes().tcp(TcpCheck(host="127.0.0.1", port=closed_port())).error == "connection refused"


def one_shot_server(reply: bytes) -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.sendall(reply)
            time.sleep(0.5)

    threading.Thread(target=answer, daemon=True).start()
    return listener, listener.getsockname()[1]


@pytest.mark.parametrize(("reply", "expected"), [
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not an SMTP reply"),
    (b"554 5.7.1 go away\r\n", "greeting 554 5.7.1 go away instead of 220"),
    (b"", "the server closed the connection"),
])
def test_smtp_that_is_not_a_mail_server_is_reported(reply: bytes, expected: str) -> None:
    listener, port = one_shot_server(reply)
    with listener:
        result = NetworkProbes().smtp(SmtpCheck(host="127.0.0.1", port=port, timeout=3))

    assert result.error is not None and result.error.startswith(expected)


def test_smtp_refused_and_silent() -> None:
    refused = NetworkProbes().smtp(SmtpCheck(host="127.0.0.1", port=closed_port()))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with listener:
        silent = NetworkProbes().smtp(SmtpCheck(host="127.0.0.1", port=listener.getsockname()[1], timeout=0.5))

    assert refused.error == "connection refused"
    assert silent.error == "no answer within 0.5 s"
