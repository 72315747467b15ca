"""`chaton status --metrics-file PATH`: one Prometheus gauge per finding, for node_exporter's textfile
collector, so a collective that runs Prometheus gets alerting and history from the same checks.

- `chaton_status_level{section, subject, check, item}`: 0 ok, 1 warning, 2 critical, 3 unknown
  (the Nagios codes);
- `chaton_status_value{section, subject, check, item, unit}`: the measured value where there is one
  (percent used, seconds, days, hours);
- `chaton_status_last_run_timestamp_seconds`.

A run limited to some hosts or services (`--host`, `--service`) replaces only their series.
"""

from __future__ import annotations

from pathlib import Path

from chaton_ops.adapters.atomic import write_text_atomically
from chaton_ops.adapters.metrics import LabelSet, MetricFamily, read_textfile, render_textfile
from chaton_ops.core.health import NAGIOS_CODE, Finding, StatusReport

LEVEL = "chaton_status_level"
VALUE = "chaton_status_value"
LAST_RUN = "chaton_status_last_run_timestamp_seconds"
HELP = {
    LEVEL: "Level of a chaton status finding: 0 ok, 1 warning, 2 critical, 3 unknown.",
    VALUE: "Value measured by a chaton status finding (see the unit label).",
    LAST_RUN: "Unix time the last chaton status run checked.",
}


def _labels(finding: Finding, *, unit: bool = False) -> LabelSet:
    labels = [("section", finding.section), ("subject", finding.subject), ("check", finding.check),
              ("item", finding.item)]
    if unit:
        labels.append(("unit", finding.unit))
    return tuple(labels)


def status_families(report: StatusReport, previous: dict[str, MetricFamily]) -> list[MetricFamily]:
    """This run's series, with the previous file's series of subjects it did not check."""
    checked = {finding.subject for finding in report.findings}
    families = []
    for name in (LEVEL, VALUE):
        kept = {labels: value for labels, value in previous.get(name, MetricFamily(name)).samples.items()
                if dict(labels).get("subject") not in checked}
        families.append(MetricFamily(name, HELP[name], "gauge", kept))
    level, value = families
    for finding in report.findings:
        level.samples[_labels(finding)] = float(NAGIOS_CODE[finding.level])
        if finding.value is not None:
            value.samples[_labels(finding, unit=True)] = float(finding.value)
    families.append(MetricFamily(LAST_RUN, HELP[LAST_RUN], "gauge", {(): report.checked_at.timestamp()}))
    return families


def write_status_textfile(path: Path, report: StatusReport) -> None:
    write_text_atomically(path, render_textfile(status_families(report, read_textfile(path))), mode=0o644)
