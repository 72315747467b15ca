"""Values that reach a host, a config file or another tool: each type accepts what the tool reads the
same way everywhere, and refuses the rest with a reason (by class, not by example)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket

import pytest

from chaton_ops.core import values

# ----------------------------------------------------------------------------------------- addresses
CANONICAL = ["192.0.2.10", "10.77.3.2", "0.0.0.0", "255.255.255.255", "2001:db8::1", "::1", "fe80::1%eth0"]
NAMES = ["web", "web.example", "WEB.Example.", "xn--caf-dma.example", "a-b.example", "1a.example", "0x1.example"]
# What some resolver reads as an address of another machine, or what an option parser takes for an option.
NOT_ADDRESSES = [
    "192.0.2.023",      # octal to inet_aton: 192.0.2.19
    "127.1",            # short form: 127.0.0.1
    "10.1.65535",       # short form with a 16-bit last part
    "3221225985",       # an integer: 192.0.2.1
    "0x7f000001",       # hexadecimal
    "0x7f.1",
    "017700000001",     # octal integer
    "192.0.2.256",
    "1.2.3.4.5",
    "2001:DB8::1",      # not canonical (RFC 5952: lower case)
    "2001:db8:0:0:0:0:0:1",
    "::ffff:192.0.2.1x",
    "-oProxyCommand=x",
    "web.-example",
    "web-.example",
    "a..b",
    ".example",
    "web example",
    "web;example",
    "web_1.example",
    "café.example",
    "a" * 64 + ".example",
    "example.123",      # a numeric top-level label
    "",
    "fe80::1%eth0;x",
]


@pytest.mark.parametrize("value", CANONICAL + NAMES)
def test_canonical_addresses_and_dns_names_are_accepted(value: str) -> None:
    assert values.check_address(value) == value


@pytest.mark.parametrize("value", NOT_ADDRESSES)
def test_everything_a_tool_could_read_another_way_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="neither an IP address nor a host name|canonical|zone"):
        values.check_address(value)


@pytest.mark.parametrize("value", [v for v in NOT_ADDRESSES if v and v.replace(".", "").isalnum()])
def test_whatever_inet_aton_reads_as_an_address_is_refused(value: str) -> None:
    try:
        socket.inet_aton(value)
    except OSError:
        return  # not an address to inet_aton either
    with pytest.raises(ValueError):
        values.check_address(value)


def test_duplicates_are_compared_on_the_parsed_address() -> None:
    assert values.address_key("WEB.example.") == values.address_key("web.example")
    assert values.address_key("2001:db8::1") == ipaddress.ip_address("2001:0db8:0::1")
    assert values.address_key("192.0.2.1") != values.address_key("192.0.2.10")


# -------------------------------------------------------------------------------------- mail, paths
@pytest.mark.parametrize("value", ["admins@ti-nuage.example", "first.last+tag@example.org", "a@localhost"])
def test_mail_addresses_are_accepted(value: str) -> None:
    assert values.check_mail_address(value) == value


@pytest.mark.parametrize("value", ["not a mail", "admins", "@example.org", "a@", "a b@example.org",
                                   "a@b@example.org", '"quoted"@example.org', "a..b@example.org",
                                   "a@-example.org", "a@example.org\nBcc: x@y.example", "a@192.0.2.023"])
def test_what_is_not_a_mail_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="mail address"):
        values.check_mail_address(value)


@pytest.mark.parametrize("value", ["/srv/www", "/srv/my site", "/", "/srv/a.b/.hidden", "/srv/$(x)"])
def test_absolute_paths_are_accepted(value: str) -> None:
    assert values.check_absolute_path(value) == value


@pytest.mark.parametrize("value", ["srv/www", "", "/srv/../etc", "/srv/./www", "/srv/..", "/srv/www\n/etc",
                                   "/srv/\x00", "/srv/\x1b[2J"])
def test_relative_dotted_and_control_paths_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_absolute_path(value)


@pytest.mark.parametrize("value", ["*.tmp\n/etc", "", "a\rb", "\x00"])
def test_exclude_patterns_are_one_line(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_exclude(value)


@pytest.mark.parametrize(("value", "reason"), [
    ("", "empty"), ("   ", "empty"), ("pass 'unclosed", "cannot be split"), ("-c x", "starts with an option"),
    ("pass show\nx", "newline")])
def test_secret_commands_are_checked_for_form(value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        values.check_command_line(value)


@pytest.mark.parametrize("value", ["/tmp/known hosts", '/tmp/"x', "/tmp/%h", "~/x\ny", "-oProxyCommand=x"])
def test_paths_given_to_ssh_options_have_nothing_ssh_would_interpret(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_ssh_path(value)


# -------------------------------------------------------------------------------------------- URLs
@pytest.mark.parametrize("value", [
    "/srv/restic/main", "local:/srv/restic", "sftp:backup@backup.example:/srv/restic/main",
    "sftp:backup.example:repo", "sftp://u@backup.example:2222//srv/restic", "sftp:root@[2001:db8::1]:/srv",
    "rest:https://backup.example:8000/ti-nuage/", "s3:s3.amazonaws.com/bucket/path",
    "s3:https://minio.example:9000/bucket", "b2:bucket:path", "rclone:remote:path"])
def test_restic_repository_urls_are_accepted(value: str) -> None:
    assert values.check_repository_url(value) == value


@pytest.mark.parametrize("value", [
    "sftp:-oProxyCommand=touch@backup.example:/srv",  # the user becomes an ssh option
    "sftp:backup@-oProxyCommand=touch:/srv",          # the host becomes an ssh option
    "sftp://backup@-oProxyCommand=x:22//srv",
    "sftp:backup@192.0.2.023:/srv",                   # another machine
    "sftp:backup@host.example:/srv\n-rm x",           # a second sftp batch command
    "rest:https://user:password@backup.example/",     # a secret in the inventory
    "rest:https://-x/", "s3:-endpoint/bucket", "rclone:-flag", "b2:", "relative/path", "ftp:host:/x",
    "/srv/../restic"])
def test_repository_urls_that_reach_a_tool_another_way_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_repository_url(value)


@pytest.mark.parametrize("value", ["http://x.example/", "https://x.example:8443/a?b", "https://[2001:db8::1]/"])
def test_http_urls_are_accepted(value: str) -> None:
    assert values.check_http_url(value) == value


@pytest.mark.parametrize("value", ["ftp://x.example/", "https://x .example/", "https://u:p@x.example/",
                                   "https://x.example:99999/", "https://127.1/", "https://x.example/\n"])
def test_http_urls_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_http_url(value)


# ---------------------------------------------------------------------------------------- text, dates
@pytest.mark.parametrize("value", ["a\nb", "\x1b]0;title\x07", "a\u2028b", "tab\tok\x7f"])
def test_single_line_text_has_no_control_character(value: str) -> None:
    with pytest.raises(ValueError):
        values.check_single_line(value)


def test_free_text_keeps_lines_and_tabs_but_no_escape_sequence() -> None:
    assert values.check_text("line one\n\tline two") == "line one\n\tline two"
    with pytest.raises(ValueError):
        values.check_text("\x1b[2J")


def test_a_date_in_the_future_is_refused() -> None:
    today = dt.date.today()
    assert values.check_not_in_future(today) == today
    with pytest.raises(ValueError, match="in the future"):
        values.check_not_in_future(today + dt.timedelta(days=1))


@pytest.mark.parametrize("check", [values.check_address, values.check_dns_name, values.check_mail_address,
                                   values.check_repository_url, values.check_executable, values.check_http_url,
                                   values.check_absolute_path, values.check_single_line])
@pytest.mark.parametrize("value", ["web.example\n", "a@web.example\n", "sftp:u@web.example:/srv\n",
                                   "https://web.example/\n", "/srv/www\n", "restic\n"])
def test_a_trailing_newline_is_refused_by_every_check(check, value: str) -> None:
    """`$` in a Python regex matches before a final newline: every check anchors at the very end."""
    with pytest.raises(ValueError):
        check(value)


def test_a_quoted_iso_date_is_a_date_and_nothing_else_is() -> None:
    assert values.read_iso_date("2026-03-02") == dt.date(2026, 3, 2)
    assert values.read_iso_date("2026-3-2") == "2026-3-2"  # left to the model, which refuses text
    with pytest.raises(ValueError, match=r"must be a date \(YYYY-MM-DD\); got '2026-13-40'"):
        values.read_iso_date("2026-13-40")
