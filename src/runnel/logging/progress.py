"""A live line of counts for flow runs that submit tasks: done, running, failed, cached.

Shown on a terminal (``RUNNEL_PROGRESS=auto``, the default, means: when stderr is a TTY);
log lines keep printing above it.
"""

from __future__ import annotations

import sys
from typing import Any

from runnel.settings import get_settings


class LiveProgress:
    """A Rich ``Live`` line that reads the flow run's task scope a few times a second."""

    def __init__(self, flow_run: Any, scope: Any, force: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self.flow_run = flow_run
        self.scope = scope
        console = Console(file=sys.stderr, soft_wrap=True, force_terminal=force or None)
        self.live = Live(
            get_renderable=self.render,
            console=console,
            refresh_per_second=4,
            transient=True,
            redirect_stderr=True,
            redirect_stdout=False,
        )
        self.live.start()

    def render(self) -> Any:
        from rich.text import Text

        c = self.scope.counts()
        text = Text(f"{self.flow_run.name}: ")
        text.append(f"{c['done'] - c['failed']} done", style="green")
        text.append(f" · {c['running']} running", style="cyan")
        text.append(f" · {c['failed']} failed", style="red" if c["failed"] else "")
        text.append(f" · {c['cached']} cached · {c['submitted']} submitted")
        return text

    def stop(self) -> None:
        self.live.stop()


def progress_for(flow_run: Any, scope: Any) -> LiveProgress | None:
    """A started display when the settings and the terminal call for one."""
    mode = get_settings().progress
    if mode == "off" or (mode == "auto" and not sys.stderr.isatty()):
        return None
    return LiveProgress(flow_run, scope, force=mode == "on")
