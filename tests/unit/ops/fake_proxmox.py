"""An in-memory Proxmox cluster for unit tests of the `chaton vm` use cases: answers by path, records the
calls sent. The behaviour tests run against fakepve (tests/pve/); this is for planning and orchestration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chaton_ops.core.proxmox import ApiCall
from chaton_ops.errors import ChatonError


class FakeProxmox:
    def __init__(self, cluster: str = "hutte", answers: Mapping[str, Any] | None = None,
                 errors: Mapping[str, ChatonError] | None = None) -> None:
        self.cluster = cluster
        self.answers: dict[str, Any] = dict(answers or {})
        self.errors = dict(errors or {})
        self.sent: list[ApiCall] = []
        self.read: list[str] = []

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        self.read.append(path)
        if path in self.errors:
            raise self.errors[path]
        answer = self.answers[path]
        return answer() if isinstance(answer, Callable) else answer  # type: ignore[arg-type]

    def send(self, call: ApiCall) -> Any:
        self.sent.append(call)
        if call.path in self.errors:
            raise self.errors[call.path]
        answer = self.answers.get(f"{call.method} {call.path}")
        return answer() if callable(answer) else answer
