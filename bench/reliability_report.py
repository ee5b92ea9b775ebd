"""Render the figures the reliability suite measured as the table of RELIABILITY.md.

The suite (``tests/reliability``) appends one JSON line per measured figure to the file named by
``AMPDB_RELIABILITY_FIGURES``: the test, what was measured, the seconds, the test's outcome. This
script turns such a file (from a CI run or a local one) into Markdown, grouped by the kind of
trial, and can write it into RELIABILITY.md between its figure markers:

    AMPDB_RELIABILITY_FIGURES=/tmp/figures.jsonl .venv/bin/pytest tests/reliability -p no:randomly
    .venv/bin/python bench/reliability_report.py /tmp/figures.jsonl --write RELIABILITY.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

BEGIN = "<!-- figures:begin -->"
END = "<!-- figures:end -->"

SECTIONS = (
    ("test_faults.py", "Faults"),
    ("test_restart.py", "Server restarts"),
    ("test_hangs.py", "Hangs"),
    ("test_concurrency.py", "Concurrency and load"),
    ("test_budget.py", "Time budget"),
    ("test_bad_input.py", "Bad input"),
    ("test_refusals.py", "Refusals"),
    ("test_secrets.py", "Secrets"),
    ("test_safety.py", "Safety"),
    ("test_ownership.py", "Ownership"),
    ("test_kept.py", "What is kept, and ampdb clean"),
    ("test_leaks.py", "Leaks and reach"),
)
OTHER = "Other"
"""The title of figures from a file no section names (never dropped)."""

OUTCOMES = {
    "passed": "held",
    "failed": "**FAILED**",
    "xfailed": "expected failure",
    "xpassed": "**XPASS**",
}


@dataclass(frozen=True)
class Figure:
    """One measured figure of one test."""

    test: str
    metric: str
    seconds: float | None
    note: str
    outcome: str
    when: str


def read_figures(path: Path) -> list[Figure]:
    """Every figure of the file; a later line for the same test and metric replaces an earlier."""
    latest: dict[tuple[str, str], Figure] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            figure = Figure(
                test=str(data["test"]),
                metric=str(data["metric"]),
                seconds=None if data.get("seconds") is None else float(data["seconds"]),
                note=str(data.get("note", "")),
                outcome=str(data.get("outcome", "")),
                when=str(data.get("when", "")),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}:{number}: not a figure line ({exc})") from None
        latest[(figure.test, figure.metric)] = figure
    return list(latest.values())


def render(figures: Sequence[Figure]) -> str:
    """Markdown: one table per kind of trial, then the run's date and totals."""
    out: list[str] = []
    named = [f"/{filename}::" for filename, _ in SECTIONS]
    other = [f for f in figures if not any(n in f"/{f.test}" for n in named)]
    for filename, title in (*SECTIONS, ("", OTHER)):
        rows = [f for f in figures if f"/{filename}::" in f"/{f.test}"] if filename else other
        if not rows:
            continue
        out += [
            f"### {title}",
            "",
            "| what was tried | seconds | result | test |",
            "|---|---:|---|---|",
        ]
        out += [_row(f) for f in rows]
        out.append("")
    held = sum(f.outcome == "passed" for f in figures)
    dates = sorted(f.when for f in figures if f.when)
    span = f"{dates[0]} to {dates[-1]}" if dates else "unknown dates"
    out.append(f"{len(figures)} figures from {span}; {held} from tests that held.")
    return "\n".join(out) + "\n"


def _row(figure: Figure) -> str:
    seconds = "" if figure.seconds is None else f"{figure.seconds:.2f}"
    test = figure.test.split("::", 1)[-1].replace("|", "/")
    what = figure.metric.replace("|", "/") + (f" ({figure.note})" if figure.note else "")
    return f"| {what} | {seconds} | {OUTCOMES.get(figure.outcome, figure.outcome)} | `{test}` |"


def write_into(document: Path, table: str) -> None:
    """Replace what lies between the figure markers of ``document`` with ``table``."""
    text = document.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{document}: no {BEGIN} ... {END} markers to write between")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = f"{BEGIN}\n<!-- rendered by bench/reliability_report.py on {stamp} -->\n\n{table}"
    document.write_text(text[:start] + body + text[end:], encoding="utf-8")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("figures", type=Path, help="JSON-lines file the suite wrote")
    parser.add_argument("--write", type=Path, help="write the table into this Markdown file")
    args = parser.parse_args(list(argv) if argv is not None else None)
    table = render(read_figures(args.figures))
    if args.write is not None:
        write_into(args.write, table)
    else:
        sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
