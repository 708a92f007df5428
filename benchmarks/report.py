"""The benchmark table, as aligned text for the terminal and as Markdown for the README."""

from __future__ import annotations

from dataclasses import dataclass

from harness import Row

HEADER = ("workload", "unit", "runnel", "floor", "Prefect 3", "runnel/floor", "runnel/Prefect",
          "budget", "result")  # fmt: skip
LEFT_ALIGNED = {"workload", "unit", "budget", "result"}


@dataclass(frozen=True)
class Report:
    """One run's table: a heading, the rows, and what the reader needs to trust them."""

    heading: list[str]
    rows: list[Row]
    #: Row index -> numbers of the footnotes saying why its Prefect figure is "-".
    gaps: dict[int, list[int]]
    footnotes: list[str]
    notes: list[str]


def text(report: Report) -> str:
    """An aligned plain-text table with the heading above and the notes below."""
    lines = [HEADER, *_cells(report, failed="FAIL  <<<")]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    aligned = [
        "  ".join(
            cell.ljust(width) if name in LEFT_ALIGNED else cell.rjust(width)
            for name, cell, width in zip(HEADER, line, widths, strict=True)
        ).rstrip()
        for line in lines
    ]
    aligned.insert(1, "  ".join("-" * width for width in widths))
    footnotes = [f"[{number}] {note}" for number, note in enumerate(report.footnotes, 1)]
    return "\n\n".join(["\n".join(report.heading), "\n".join(aligned), *footnotes, *report.notes])


def markdown(report: Report) -> str:
    """A GitHub-flavoured Markdown table, ready to paste into the README."""
    rule = ["---" if name in LEFT_ALIGNED else "--:" for name in HEADER]
    table = [_md_line(HEADER), _md_line(rule), *map(_md_line, _cells(report, failed="**FAIL**"))]
    heading = "<br>\n".join(report.heading)
    footnotes = [
        f"[{number}] " + " / ".join(line.strip() for line in note.splitlines())
        for number, note in enumerate(report.footnotes, 1)
    ]
    notes = [f"- {note}" for note in report.notes]
    blocks = [heading, "\n".join(table), *footnotes, "\n".join(notes)]
    return "\n\n".join(block for block in blocks if block) + "\n"


def _cells(report: Report, failed: str) -> list[tuple[str, ...]]:
    lines = []
    for index, row in enumerate(report.rows):
        verdict = "-" if row.passed is None else "PASS" if row.passed else failed
        prefect = _number(row.prefect)
        if index in report.gaps:
            prefect += " " + "".join(f"[{number}]" for number in report.gaps[index])
        lines.append((row.workload, row.unit, _number(row.runnel), _number(row.floor), prefect,
                      _ratio(row.runnel, row.floor), _ratio(row.runnel, row.prefect),
                      row.budget_text, verdict))  # fmt: skip
    return lines


def _md_line(cells: tuple[str, ...] | list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def _ratio(top: float, bottom: float | None) -> str:
    if not bottom:
        return "-"
    times = top / bottom
    return f"{times:.1f}x" if times >= 1 else f"{times:.2g}x"
