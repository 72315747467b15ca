"""Value types for everything in the inventory that reaches a host, a config file or another tool.

Each type is checked where the value enters (the inventory, at `chaton inventory check`), so that what
ssh, restic, sftp, nginx, postfix or PHP later receive is exactly what the admin meant:
- one address type: a canonical IPv4/IPv6 address or a valid DNS name, nothing a resolver could read
  another way (`192.0.2.023` is 192.0.2.19 to inet_aton, `127.1` is 127.0.0.1, `3221225985` is an address);
- no value starts with `-` where a tool would take it for an option (ssh host, sftp user, rclone path);
- no control character anywhere (a newline ends a config line, a restic exclude or an sftp batch
  command; an escape sequence rewrites the admin's terminal);
- paths are absolute and without `.`/`..` segments where they name data on a host.
Messages quote values with repr(), so a control character is shown escaped, never sent to a terminal.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import shlex
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_TAB_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# What inet_aton (and so ssh, ping, curl…) reads as an IPv4 address: one to four parts, each decimal,
# octal (leading 0) or hexadecimal (0x). A host name must never look like one.
_INET_ATON_PART = re.compile(r"^(?:0[xX][0-9A-Fa-f]*|[0-9]+)\Z")
_SCOPE_ID = re.compile(r"^[A-Za-z0-9_.-]+\Z")
_MAIL_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\Z")
# The common case in one regex match (tens of thousands of names in a big inventory): labels of
# letters, digits and '-', the last one with a letter that makes it no number (not 0x…).
_PLAIN_DNS_NAME = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                             r"(?!0[xX][0-9A-Fa-f]*\.?\Z)(?=[A-Za-z0-9-]*[A-Za-z])"
                             r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?\Z")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|\Z)")
_SPACE = re.compile(r"\s")


def _control_character(value: str, allow_newline: bool = False) -> str | None:
    found = (_CONTROL_BUT_TAB_NEWLINE if allow_newline else _CONTROL).search(value)
    if found is None:
        return None
    character = found.group()
    return "a newline" if character == "\n" else f"the control character U+{ord(character):04X}"


def check_single_line(value: str) -> str:
    """Text on one line: no newline, no control character."""
    bad = _control_character(value)
    if bad:
        raise ValueError(f"contains {bad}; write it on one line without control characters")
    return value


def check_text(value: str) -> str:
    """Free text: lines and tabs allowed, no other control character (escape sequences)."""
    bad = _control_character(value, allow_newline=True)
    if bad:
        raise ValueError(f"contains {bad}")
    return value


# ---------------------------------------------------------------------------------- names, addresses
@functools.lru_cache(maxsize=4096)
def dns_name_problem(value: str) -> str | None:
    """Why `value` is not a DNS host name (letters, digits and '-' in dot-separated labels), or None."""
    if len(value) <= 254 and _PLAIN_DNS_NAME.match(value) and not _inet_aton_like(value):
        return None
    name = value[:-1] if value.endswith(".") else value
    if not name:
        return "is empty"
    if len(name) > 253:
        return "is longer than 253 characters"
    if not name.isascii():
        return "has non-ASCII characters (write an internationalised name in punycode, xn--…)"
    labels = name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            if not label:
                return "has an empty label (two dots in a row, or a leading dot)"
            if label.startswith("-") or label.endswith("-"):
                return f"has a label that starts or ends with '-' ({label!r})"
            return f"has a label with characters other than letters, digits and '-' ({label!r})"
    if _inet_aton_like(name):
        return "looks like a number or a short IPv4 address, which resolvers would read as an address"
    if labels[-1].isdigit():
        return "ends with a numeric label, which no DNS name has"
    return None


def _inet_aton_like(name: str) -> bool:
    labels = name.removesuffix(".").split(".")
    return len(labels) <= 4 and all(_INET_ATON_PART.match(label) for label in labels)


def check_dns_name(value: str) -> str:
    problem = dns_name_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} is not a DNS name: it {problem}")
    return value


@functools.lru_cache(maxsize=4096)
def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def check_address(value: str) -> str:
    """A canonical IPv4 or IPv6 address, or a DNS host name."""
    if ":" not in value and dns_name_problem(value) is None:
        return value  # a name (an IPv4 address always ends with a number, which no DNS name does)
    address = _parse_ip(value)
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None \
                and not _SCOPE_ID.match(address.scope_id):
            raise ValueError(f"{value!r}: the zone of an IPv6 address is an interface name")
        if str(address) != value:
            raise ValueError(f"{value!r} is not written the canonical way; write {str(address)!r}")
        return value
    problem = dns_name_problem(value)
    if problem is None:
        return value
    if ":" in value:
        problem = "is not a valid IPv6 address"
    elif all(_INET_ATON_PART.match(part) for part in value.split(".")):
        problem = ("is not four numbers 0-255 without leading zeros (192.0.2.10): short, octal and integer "
                   "forms mean different machines to different tools")
    raise ValueError(f"{value!r} is neither an IP address nor a host name: it {problem}")


def address_key(value: str) -> object:
    """What identifies an address: the parsed IP, or the lowercase name without its final dot."""
    address = _parse_ip(value)
    if address is not None:
        return address
    return value.lower().removesuffix(".")


def check_mail_address(value: str) -> str:
    """local@domain: a dot-atom local part (no quotes, no spaces) and a DNS domain."""
    local, at, domain = value.rpartition("@")
    if not at or not local:
        raise ValueError(f"{value!r} is not a mail address (name@domain)")
    if len(value) > 254 or len(local) > 64 or not _MAIL_LOCAL.match(local):
        raise ValueError(f"{value!r} is not a mail address: {local!r} cannot be the part before '@'")
    problem = dns_name_problem(domain)
    if problem is not None:
        raise ValueError(f"{value!r} is not a mail address: its domain {problem}")
    return value


# ---------------------------------------------------------------------------------------------- paths
def check_absolute_path(value: str) -> str:
    """An absolute path on a host, with no `.` or `..` segment and no control character."""
    if not value.startswith("/"):
        raise ValueError(f"{value!r} is not an absolute path")
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the path {value!r} contains {bad}")
    if _DOT_SEGMENT.search(value):
        raise ValueError(f"the path {value!r} has a '.' or '..' segment; write the path it stands for")
    return value


def check_local_path(value: str) -> str:
    """A file on the machine running chaton (absolute, `~/…` or relative to the inventory)."""
    if not value:
        raise ValueError("is empty; give a path")
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the path {value!r} contains {bad}")
    if value.startswith("-"):
        raise ValueError(f"the path {value!r} starts with '-'; write ./{value}")
    return value


def check_ssh_path(value: str) -> str:
    """A path ssh reads from its -o options too (Ansible passes known_hosts that way): ssh splits option
    values at spaces and quotes, and expands % tokens, so none of those may appear."""
    check_local_path(value)
    for character in ('"', "'", "%", "\\"):
        if character in value:
            raise ValueError(f"the path {value!r} contains {character!r}, which ssh would not read literally")
    if _SPACE.search(value):
        raise ValueError(f"the path {value!r} contains a space, which ssh would take as two files")
    return value


def check_executable(value: str) -> str:
    """A program on a host: a command name found in PATH or an absolute path."""
    if value.startswith("/"):
        return check_absolute_path(value)
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*", value):
        raise ValueError(f"{value!r} is not a command name or an absolute path")
    return value


def check_exclude(value: str) -> str:
    """A restic exclude pattern: one line, not empty."""
    if not value:
        raise ValueError("an exclude pattern cannot be empty")
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the exclude pattern {value!r} contains {bad}")
    return value


def check_command_line(value: str) -> str:
    """A command line chaton splits like a shell would and runs without one."""
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the command contains {bad}")
    try:
        argv = shlex.split(value)
    except ValueError as error:
        raise ValueError(f"the command cannot be split into words: {error}") from None
    if not argv:
        raise ValueError("the command is empty")
    if argv[0].startswith("-"):
        raise ValueError(f"the command starts with an option ({argv[0]!r}), not a program")
    return value


# ------------------------------------------------------------------------------------------------ URLs
# restic's two SFTP forms: sftp:user@host:/path, and sftp://user@host:port//absolute (one slash: relative
# to the login folder, which sftp's `df` understands too)
SFTP_SHORT = re.compile(r"^sftp:(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+):(?P<path>.+)\Z")
SFTP_URL = re.compile(r"^sftp://(?:(?P<user>[^@/]+)@)?(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<path>.+)\Z")
_HTTP_URL = re.compile(r"^(?P<scheme>https?)://(?:(?P<userinfo>[^@/?#]*)@)?(?P<host>\[[^\]/]*\]|[^:/?#]*)"
                       r"(?::(?P<port>[0-9]*))?(?P<rest>[/?#].*)?\Z")
# restic backends whose location is `NAME:REST` with REST handed on to another program or API
_OTHER_BACKENDS = ("b2", "azure", "gs", "swift", "rclone")


def _host_problem(host: str) -> str | None:
    if host.startswith("[") and host.endswith("]"):
        address = _parse_ip(host[1:-1])
        if not isinstance(address, ipaddress.IPv6Address) or str(address) != host[1:-1]:
            return f"[{host[1:-1]}] is not a canonical IPv6 address"
        return None
    try:
        check_address(host)
    except ValueError as error:
        return str(error)
    if ":" in host:
        return f"the IPv6 address {host} must be written in brackets, [{host}]"
    return None


def check_http_url(value: str, *, secure_only: bool = False) -> str:
    """http(s)://host[:port][/path]: the host an address, no password, no space or control character."""
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the URL {value!r} contains {bad}")
    found = _HTTP_URL.match(value)
    if found is None or _SPACE.search(value):
        raise ValueError(f"{value!r} is not an http(s) URL (http://host[:port]/path)")
    if secure_only and found["scheme"] != "https":
        raise ValueError(f"{value!r} must be an https:// URL")
    if found["userinfo"] is not None:
        raise ValueError("the URL holds a user or password: secrets are references (`secrets:`), never values")
    problem = _host_problem(found["host"])
    if problem:
        raise ValueError(f"the host of the URL {value!r}: {problem}")
    port = found["port"]
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"the port of the URL {value!r} is not a number from 1 to 65535")
    return value


def check_repository_url(value: str) -> str:
    """A restic repository as restic takes it, with every part that reaches ssh, sftp or another tool
    checked: /absolute/path, local:/path, sftp:[user@]host:path, sftp://[user@]host[:port]/path,
    rest:http(s)://host/…, s3:…, and b2:/azure:/gs:/swift:/rclone: locations."""
    bad = _control_character(value)
    if bad:
        raise ValueError(f"the URL contains {bad}")
    if value.startswith("/"):
        check_absolute_path(value)
        return value
    scheme, colon, rest = value.partition(":")
    if not colon:
        raise ValueError(f"{value!r} is not a repository: give an absolute path or a restic URL (sftp:, rest:, s3:, …)")
    if scheme == "local":
        check_absolute_path(rest)
    elif scheme == "sftp":
        _check_sftp(value)
    elif scheme == "rest":
        check_http_url(rest)
    elif scheme == "s3":
        if rest.startswith(("http://", "https://")):
            check_http_url(rest)
        else:
            host = rest.split("/", 1)[0]
            problem = _host_problem(host)
            if problem:
                raise ValueError(f"the S3 endpoint: {problem}")
    elif scheme in _OTHER_BACKENDS:
        if not rest or rest.startswith("-") or _SPACE.search(rest):
            raise ValueError(f"{value!r}: the {scheme} location must not be empty, start with '-' or hold spaces")
    else:
        raise ValueError(f"unknown restic repository type {scheme + ':'!r} (known: an absolute path, local:, "
                         f"sftp:, rest:, s3:, {', '.join(b + ':' for b in _OTHER_BACKENDS)})")
    return value


def _check_sftp(value: str) -> None:
    found = SFTP_URL.match(value) or SFTP_SHORT.match(value)
    if found is None:
        raise ValueError(f"{value!r} is not an SFTP repository (sftp:user@host:/path or sftp://user@host:port//path)")
    user, host = found["user"], found["host"]
    if user is not None and not _USER.match(user):
        raise ValueError(f"{value!r}: {user!r} is not a user name (letters, digits, '_', '.', '-'; "
                         "not starting with '-')")
    problem = _host_problem(host)
    if problem:
        raise ValueError(f"{value!r}: the host: {problem}")
    port = found.groupdict().get("port")
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: the port is not a number from 1 to 65535")


# --------------------------------------------------------------------------------------------- dates
def read_iso_date(value: object) -> object:
    """A date written YYYY-MM-DD, quoted or not (a quoted one is text to YAML): nothing else is a date."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a date (YYYY-MM-DD); got {value!r}") from None
    return value


_ISO_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
                           r"(?:Z|[+-][0-9]{2}:[0-9]{2})?")


def read_iso_datetime(value: object) -> object:
    """A time written YYYY-MM-DD HH:MM[:SS][offset] (YAML reads it as text without seconds): nothing else."""
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a date and time (YYYY-MM-DD HH:MM); got {value!r}") from None
    return value


def check_not_in_future(value: dt.date) -> dt.date:
    if value > dt.date.today():
        raise ValueError(f"{value.isoformat()} is in the future")
    return value


Address = Annotated[str, AfterValidator(check_address), Field(
    json_schema_extra={"format": "ip-address-or-hostname"},
    description="A canonical IPv4/IPv6 address or a DNS host name.")]
DnsName = Annotated[str, AfterValidator(check_dns_name), Field(
    json_schema_extra={"format": "hostname"}, description="A DNS name.")]
MailAddress = Annotated[str, AfterValidator(check_mail_address), Field(
    json_schema_extra={"format": "email"}, description="A mail address, name@domain.")]
AbsolutePath = Annotated[str, AfterValidator(check_absolute_path), Field(
    json_schema_extra={"format": "absolute-path"}, description="An absolute path without '.' or '..' segments.")]
LocalPath = Annotated[str, AfterValidator(check_local_path), Field(
    json_schema_extra={"format": "path"}, description="A path on the machine running chaton.")]
SshPath = Annotated[str, AfterValidator(check_ssh_path), Field(
    json_schema_extra={"format": "path"}, description="A path also given to ssh options: no spaces, quotes or %.")]
Executable = Annotated[str, AfterValidator(check_executable), Field(
    json_schema_extra={"format": "command-name-or-absolute-path"}, description="A command name or absolute path.")]
ExcludePattern = Annotated[str, AfterValidator(check_exclude), Field(
    json_schema_extra={"format": "restic-exclude"}, description="A restic exclude pattern.")]
CommandLine = Annotated[str, AfterValidator(check_command_line), Field(
    json_schema_extra={"format": "command-line"}, description="A command line, split like a shell would.")]
HttpUrl = Annotated[str, AfterValidator(check_http_url), Field(
    json_schema_extra={"format": "uri"}, description="An http(s) URL.")]
RepositoryUrl = Annotated[str, AfterValidator(check_repository_url), Field(
    json_schema_extra={"format": "restic-repository"}, description="A restic repository URL.")]
SingleLine = Annotated[str, AfterValidator(check_single_line), Field(
    json_schema_extra={"format": "single-line-text"}, description="Text on one line.")]
Text = Annotated[str, AfterValidator(check_text), Field(
    json_schema_extra={"format": "text"}, description="Free text.")]
PastDate = Annotated[dt.date, BeforeValidator(read_iso_date), AfterValidator(check_not_in_future)]
IsoDatetime = Annotated[dt.datetime, BeforeValidator(read_iso_datetime)]
