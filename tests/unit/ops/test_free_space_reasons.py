"""An unknown free space says why: every way the measurement can fail gives a reason naming the tool,
the hosts and what it said; a measurement that works gives no reason."""

from __future__ import annotations

import pytest

from chaton_ops.core.ports import CommandResult
from chaton_ops.errors import ConnectError
from chaton_ops.ops.repository import explain_free_space, explain_free_space_on
from tests.fakes import FakeTransport

SFTP_DF = """sftp> -df "/srv/restic/main"
        Size         Used        Avail       (root)    %Capacity
   264212084     42344316     64046596    221867768          16%
"""
DF_P = """Filesystem     1024-blocks      Used Available Capacity Mounted on
/dev/sda1        264212084  42344316  64046596      40% /srv
"""


class Answers(FakeTransport):
    def __init__(self, returncode: int, stdout: str, stderr: str = "") -> None:
        super().__init__("primary")
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def answer(self, argv: list[str]) -> CommandResult:
        return self.result(argv, self.returncode, self.stdout, self.stderr)


def test_sftp_measurement_has_no_reason_and_keeps_ssh_errors_visible():
    transport = Answers(0, SFTP_DF)

    space, reason = explain_free_space(transport, "sftp:root@10.0.0.4:/srv/restic/main")

    assert space is not None and space.available_bytes == 64046596 * 1024 and reason == ""
    argv = transport.commands[0]
    assert "-q" not in argv and "LogLevel=ERROR" in argv and "BatchMode=yes" in argv


@pytest.mark.parametrize(("returncode", "stdout", "stderr", "expected"), [
    (255, "", "ssh: connect to host 10.0.0.4 port 22: No route to host\nConnection closed\n",
     "exit 255: ssh: connect to host 10.0.0.4 port 22: No route to host / Connection closed"),
    (255, "", "root@10.0.0.4: Permission denied (publickey).\nConnection closed\n",
     "exit 255: root@10.0.0.4: Permission denied (publickey). / Connection closed"),
    (-1, "", "", "ended without an exit status (killed by a signal): no output"),
    (0, "sftp> -df /srv/restic/main\n", "", "no sizes in its answer (no output)"),
    (1, "sftp> -df x\n", "Can't get space: Operation unsupported\n", "exit 1: Can't get space: Operation unsupported"),
])
def test_sftp_failures_name_the_hosts_and_what_was_said(returncode, stdout, stderr, expected):
    space, reason = explain_free_space(Answers(returncode, stdout, stderr), "sftp:root@10.0.0.4:/srv/restic/main")

    assert space is None
    assert reason == f"sftp df to root@10.0.0.4 from primary: {expected}"


def test_an_unreachable_runner_gives_its_connection_error():
    space, reason = explain_free_space(FakeTransport("primary", ConnectError("primary", "connection refused")),
                                       "sftp:root@10.0.0.4:/srv/restic/main")

    assert space is None and "primary" in reason and "connection refused" in reason


@pytest.mark.parametrize("url", ["rest:https://backup.example/repo", "s3:s3.example/bucket/repo"])
def test_other_backends_say_they_are_not_measurable(url):
    transport = FakeTransport("primary")

    space, reason = explain_free_space(transport, url)

    assert space is None and reason.startswith("not measurable for ") and transport.commands == []


@pytest.mark.parametrize(("returncode", "stdout", "stderr", "space_known", "expected"), [
    (0, DF_P, "", True, ""),
    (1, "", "neither /srv/restic/main nor /srv/restic exists\n", False,
     "df on primary: exit 1: neither /srv/restic/main nor /srv/restic exists"),
    (0, "garbage\n", "", False, "df on primary: no sizes in its answer (no output)"),
])
def test_df_on_the_repository_host(returncode: int, stdout: str, stderr: str, space_known: bool, expected: str):
    space, reason = explain_free_space_on(Answers(returncode, stdout, stderr), "/srv/restic/main")

    assert (space is not None) is space_known and reason == expected


