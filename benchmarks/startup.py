"""Whole-process benchmarks: importing the library, and a short flow run as a script."""

from __future__ import annotations

from collections.abc import Sequence

from harness import Config, Row, median_wall


def import_time(config: Config) -> list[Row]:
    """``python -c "import runnel"``; the floor is ``python -c pass``."""
    reps = config.reps(7)
    ours = _wall_ms(config.python, ["-c", "import runnel"], reps)
    floor = _wall_ms(config.python, ["-c", "pass"], reps)
    peer = config.peer(lambda python: _wall_ms(python, ["-c", "import prefect"], reps))
    return [Row("import (whole process)", ours, floor, peer, "ms", "< 100 ms", ours < 100)]


def flow_process(config: Config) -> list[Row]:
    """``python flow3.py``: a flow calling three trivial tasks; the floor uses plain functions."""
    reps = config.reps(5)
    ours = _wall_ms(config.python, ["flow3.py", "runnel"], reps)
    floor = _wall_ms(config.python, ["flow3.py", "plain"], reps)
    peer = config.peer(lambda python: _wall_ms(python, ["flow3.py", "prefect"], reps))
    return [Row("3-task flow (whole process)", ours, floor, peer, "ms", "< 400 ms", ours < 400)]


def _wall_ms(python: str, args: Sequence[str], reps: int) -> float:
    return median_wall(python, args, reps) * 1000
