"""The live terminal table of a running capture (rich): targets, profiles, scrapes, log lines, errors."""

from __future__ import annotations

import sys
from typing import IO, Any, Sequence

from profkit.sources.session import TargetSummary
from profkit.units import format_duration


class LiveCaptureTable:
    """A :class:`profkit.sources.session.ProgressView` drawing a rich Live table, removed when the capture ends."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self._live: Any = None

    def start(self, summaries: Sequence[TargetSummary], elapsed: float, duration: float | None) -> None:
        from rich.console import Console
        from rich.live import Live

        self._live = Live(self._table(summaries, elapsed, duration), console=Console(file=self.out),
                          refresh_per_second=2, transient=True)
        self._live.start()

    def update(self, summaries: Sequence[TargetSummary], elapsed: float, duration: float | None) -> None:
        if self._live is not None:
            self._live.update(self._table(summaries, elapsed, duration))

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()

    @staticmethod
    def _table(summaries: Sequence[TargetSummary], elapsed: float, duration: float | None) -> Any:
        from rich.table import Table

        total = f" / {format_duration(duration)}" if duration else ""
        table = Table(title=f"profkit capture  {format_duration(elapsed)}{total}  (Ctrl-C stops)",
                      title_justify="left")
        for column in ("target", "profiles", "scrapes", "log lines", "errors", "last error"):
            table.add_column(column, justify="right" if column not in ("target", "last error") else "left")
        for summary in summaries:
            s = summary.stats
            table.add_row(summary.name, str(s.profiles), str(s.scrapes), str(s.log_lines),
                          f"[red]{s.errors}[/red]" if s.errors else "0", (s.last_error or "")[:60])
        return table


def live_progress(out: IO[str] | None = None) -> LiveCaptureTable | None:
    """The live table on a terminal (stderr by default); nothing when output goes to a file or pipe."""
    stream = out if out is not None else sys.stderr
    return LiveCaptureTable(stream) if stream.isatty() else None
