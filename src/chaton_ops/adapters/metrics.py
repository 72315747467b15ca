"""A Prometheus textfile for node_exporter's textfile collector, one per run's command.

Every series is per target, labelled {service, host, repository}, and identified by (service,
repository): when a service moves (failover to the VPS) its series follows it instead of leaving a
stale twin behind. The file is the memory between runs: series of targets this run did not cover are
carried over unchanged, and a target that failed keeps its previous last-success time, so an alert
on "last success older than 26 h" keeps firing after a failed run (0 means it never succeeded).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chaton_ops.adapters.atomic import read_regular_file, writable_file, write_text_atomically
from chaton_ops.core.report import RunReport, TargetResult
from chaton_ops.errors import PathError

LabelSet = tuple[tuple[str, str], ...]
TargetKey = tuple[str, str]  # (service, repository)


@dataclass
class MetricFamily:
    name: str
    help: str = ""
    type: str = "untyped"
    samples: dict[LabelSet, float] = field(default_factory=dict)


@dataclass(frozen=True)
class _Metric:
    suffix: str
    help: str
    value: Callable[[TargetResult, RunReport], float | None]


_METRICS: tuple[_Metric, ...] = (
    _Metric("success", "1 when the last run of this service to this repository succeeded (a warning counts), else 0.",
            lambda result, run: 1.0 if result.succeeded else 0.0),
    _Metric("last_run_timestamp_seconds", "Unix time the last run of this service to this repository ended.",
            lambda result, run: run.ended.timestamp()),
    _Metric("last_success_timestamp_seconds",
            "Unix time of the last successful run of this service to this repository; 0 if it never succeeded.",
            lambda result, run: run.ended.timestamp() if result.succeeded else None),
    _Metric("duration_seconds", "Duration of the last run of this service to this repository, in seconds.",
            lambda result, run: result.duration),
    _Metric("bytes_added", "Bytes the last run added to the repository (after deduplication and compression).",
            lambda result, run: None if result.bytes_added is None else float(result.bytes_added)),
    _Metric("files_new", "New files in the last snapshot.",
            lambda result, run: None if result.files_new is None else float(result.files_new)),
    _Metric("files_changed", "Changed files in the last snapshot.",
            lambda result, run: None if result.files_changed is None else float(result.files_changed)),
)


def metric_prefix(command: str) -> str:
    return "chaton_" + re.sub(r"[^a-z0-9_]", "_", command.lower()) + "_"


def write_textfile(path: Path, run: RunReport) -> None:
    """Write the run's metrics to `path` atomically, merged with what the previous file held.

    PathError when `path` is not a regular file chaton may replace, or its folder does not exist."""
    writable_file(path)  # refused before anything is read from it
    families = read_textfile(path)
    prefix = metric_prefix(run.command)
    covered: dict[TargetKey, LabelSet] = {}
    for result in run.results:
        covered[(result.service, result.repository or "")] = _labels(result)
    for metric in _METRICS:
        name = prefix + metric.suffix
        previous = families.get(name, MetricFamily(name))
        family = MetricFamily(name, metric.help, "gauge", {
            labels: value for labels, value in previous.samples.items() if _target_key(labels) not in covered
        })
        for result in run.results:
            value = metric.value(result, run)
            if value is None and metric.suffix == "last_success_timestamp_seconds":
                value = _previous_value(previous, (result.service, result.repository or ""), default=0.0)
            if value is not None:
                family.samples[covered[(result.service, result.repository or "")]] = value
        families[name] = family
    write_text_atomically(path, render_textfile(families.values()), mode=0o644)


def _labels(result: TargetResult) -> LabelSet:
    return (("service", result.service), ("host", result.host), ("repository", result.repository or ""))


def _target_key(labels: LabelSet) -> TargetKey:
    values = dict(labels)
    return values.get("service", ""), values.get("repository", "")


def _previous_value(family: MetricFamily, key: TargetKey, *, default: float) -> float:
    for labels, value in family.samples.items():
        if _target_key(labels) == key:
            return value
    return default


# --- exposition format (text 0.0.4) ------------------------------------------------------------

def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _format_value(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def render_textfile(families: Iterable[MetricFamily]) -> str:
    """Exposition-format text: HELP and TYPE, then samples in a stable order; empty families left out."""
    lines: list[str] = []
    for family in families:
        if not family.samples:
            continue
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels in sorted(family.samples):
            rendered = ",".join(f'{key}="{escape_label_value(value)}"' for key, value in labels)
            lines.append(f"{family.name}{{{rendered}}} {_format_value(family.samples[labels])}"
                         if labels else f"{family.name} {_format_value(family.samples[labels])}")
    return "\n".join(lines) + "\n" if lines else ""


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'\s*(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda match: "\n" if match.group(1) == "n" else match.group(1), text)


def parse_labels(text: str) -> LabelSet | None:
    """The label pairs of `{…}`'s content, or None when it is not well formed."""
    labels: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _LABEL.match(text, position)
        if match is None:
            return None
        labels.append((match.group("key"), _unescape(match.group("value"))))
        position = match.end()
    return tuple(labels)


def parse_textfile(text: str) -> dict[str, MetricFamily]:
    """Families of an exposition-format text; lines that do not parse are skipped."""
    families: dict[str, MetricFamily] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 3:
                continue
            family = families.setdefault(parts[2], MetricFamily(parts[2]))
            detail = parts[3] if len(parts) > 3 else ""
            if parts[1] == "HELP":
                family.help = _unescape(detail)
            else:
                family.type = detail.strip() or "untyped"
            continue
        if not line.strip() or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = parse_labels(match.group("labels") or "")
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        if labels is not None:
            families.setdefault(match.group("name"), MetricFamily(match.group("name"))).samples[labels] = value
    return families


def read_textfile(path: Path) -> dict[str, MetricFamily]:
    """What a previous run wrote; {} when there is no file or it cannot be read (a device, a FIFO or a
    file too large are not read at all: see `read_regular_file`)."""
    try:
        return parse_textfile(read_regular_file(path).decode("utf-8"))
    except (OSError, PathError, UnicodeDecodeError):
        return {}
