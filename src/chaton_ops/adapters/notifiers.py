"""Delivering notifications: healthchecks-style pings over HTTP (httpx) and apprise URLs; `NetworkNotifier`
is the Notifier port (core/ports.py) over them.

The URLs carry tokens. Whatever these functions raise or log has the URL and every token-like
piece of it removed, because apprise and httpx messages can quote parts of the URL (a host that is a
token, a path segment that is a webhook key), which the global masking of whole values misses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote

from chaton_ops.core.masking import MASK, mask_text

TIMEOUT_SECONDS = 10.0
RETRIES = 1
_URL_PIECE_SEPARATORS = re.compile(r"[/:@?&=#.,;+!~*'()\[\]\s]+")
_SHORTEST_REDACTED_PIECE = 6


class DeliveryError(Exception):
    """A notification did not arrive. The message holds no part of the URL."""


def redact_url_parts(text: str, url: str) -> str:
    """`text` with the URL and each of its longer pieces (tokens, keys, topics) replaced by a mask."""
    text = mask_text(text).replace(url, MASK)
    pieces = {piece for variant in (url, unquote(url)) for piece in _URL_PIECE_SEPARATORS.split(variant)
              if len(piece) >= _SHORTEST_REDACTED_PIECE}
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, MASK)
    return text


def send_ping(url: str, body: str = "", *, timeout: float = TIMEOUT_SECONDS, retries: int = RETRIES) -> None:
    """POST `body` to `url` (healthchecks accepts GET, HEAD or POST); retry once on a network or 5xx error."""
    import httpx

    reason = "not sent"
    for _attempt in range(retries + 1):
        try:
            response = httpx.post(url, content=body.encode("utf-8"), timeout=timeout,
                                  headers={"User-Agent": "chaton-ops", "Content-Type": "text/plain; charset=utf-8"})
        except httpx.UnsupportedProtocol:
            raise DeliveryError("not an http:// or https:// URL") from None
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            reason = f"{type(error).__name__}: {error}".rstrip(": ")
            if isinstance(error, httpx.InvalidURL):
                break
            continue
        if response.is_success:
            return
        reason = f"HTTP {response.status_code}"
        if response.status_code < 500 and response.status_code != 429:
            break  # the server understood and refused: asking again changes nothing
    raise DeliveryError(redact_url_parts(reason, url))


def send_apprise(url: str, title: str, body: str, notify_type: str, *, retries: int = RETRIES) -> None:
    """Send one apprise notification; raise DeliveryError with apprise's reason, redacted."""
    import apprise

    reasons: list[str] = []
    for _attempt in range(retries + 1):
        notifier = apprise.Apprise()
        with _capture_apprise_log(reasons):
            if not notifier.add(url):
                raise DeliveryError("not a URL apprise understands (check the scheme and its parts)")
            for plugin in notifier:
                # apprise's own default is 4 s; the project's rule is 10 s for every notification.
                plugin.socket_connect_timeout = TIMEOUT_SECONDS
                plugin.socket_read_timeout = TIMEOUT_SECONDS
            if notifier.notify(title=title, body=body, notify_type=notify_type):
                return
    reason = reasons[-1] if reasons else "apprise could not deliver it"
    raise DeliveryError(redact_url_parts(reason, url))


class NetworkNotifier:
    """The Notifier port: a ping or a message delivered now, or the reason it was not (redacted)."""

    def ping(self, url: str, body: str = "") -> str | None:
        try:
            send_ping(url, body)
        except DeliveryError as error:
            return str(error)
        return None

    def send(self, url: str, title: str, body: str, notify_type: str) -> str | None:
        try:
            send_apprise(url, title, body, notify_type)
        except DeliveryError as error:
            return str(error)
        return None


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


@contextmanager
def _capture_apprise_log(sink: list[str]) -> Iterator[None]:
    """Keep apprise's messages out of chaton's log (they may quote URL parts) and collect its warnings."""
    logger = logging.getLogger("apprise")
    handler = _Collect(sink)
    saved = (logger.propagate, logger.level)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate, level = saved
        logger.setLevel(level)
