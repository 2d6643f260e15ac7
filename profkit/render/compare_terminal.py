"""The terminal view of a comparison: one rich table per target, grown functions, findings, budgets, verdict."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from profkit.analyze.frames import short_name
from profkit.compare.format import format_change, format_p, format_value
from profkit.compare.gate import GateResult
from profkit.compare.model import CHANGED, GROWN, IMPROVED, NEW, PERSISTING, REGRESSED, RESOLVED, Comparison

STATUS_STYLE = {REGRESSED: "bold red", IMPROVED: "green", CHANGED: "yellow", "untested": "dim", "missing": "dim"}
FINDING_STYLE = {NEW: "bold red", GROWN: "red", PERSISTING: "", RESOLVED: "green", "reduced": "green"}


def print_comparison(c: Comparison, verdict: GateResult, console: Console | None = None) -> None:
    """Print everything a reviewer needs to decide; ``--json`` carries the same and more."""
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:
            console = Console(highlight=False, width=160)
    console.print(f"[bold]BASE[/] {escape(c.base.directory)} ({c.base.duration:.0f} s)  →  "
                  f"[bold]NEW[/] {escape(c.new.directory)} ({c.new.duration:.0f} s); "
                  f"windows of {c.window_seconds:g} s, Mann–Whitney U at p < {c.alpha:g} plus a minimum effect")
    for side, names in (("BASE", c.only_in_base), ("NEW", c.only_in_new)):
        if names:
            console.print(f"[yellow]only in {side}:[/] {escape(', '.join(names))} (not compared)")
    for pair in c.pairs:
        if pair.base != pair.new or pair.paired_by != "same name":
            console.print(f"paired BASE target {escape(pair.base)} with NEW target {escape(pair.new)} "
                          f"({pair.paired_by})")
    for t in c.targets:
        title = f"Target {escape(t.target)}" + (f" (BASE: {escape(t.base_target)})" if t.base_target else "")
        table = Table("metric", "base", "new", "change", "p", "status", title=title, title_justify="left")
        for m in t.metrics:
            style = STATUS_STYLE.get(m.status, "")
            status = m.status + (f" ({m.severity})" if m.severity else "")
            table.add_row(escape(m.metric.id), format_value(m.base.value, m.metric.unit),
                          format_value(m.new.value, m.metric.unit),
                          format_change(m.relative, m.change, m.metric.unit), format_p(m.p_value),
                          f"[{style}]{status}[/]" if style else status)
        console.print(table)
        if t.functions:
            per = t.normalised_per or "reconcile"
            ft = Table("function", f"base self/{per}", f"new self/{per}", "growth", "share base→new", "via",
                       title=f"Functions whose CPU per {per} grew most ({escape(t.target)})", title_justify="left")
            for g in t.functions[:8]:
                via = " ← ".join(short_name(x) for x in g.called_from if x != g.function)
                ft.add_row(escape(short_name(g.function)), format_value(g.base_self, "seconds"),
                           format_value(g.new_self, "seconds"), "+" + format_value(g.growth, "seconds"),
                           f"{g.base_share:.1%} → {g.new_share:.1%}", escape(via))
            console.print(ft)
    moved = [f for f in c.findings if f.status != PERSISTING]
    if c.findings:
        table = Table("finding", "target", "status", "base", "new", "title", title="Findings", title_justify="left")
        for f in c.findings:
            style = FINDING_STYLE.get(f.status, "")
            table.add_row(escape(f.id), escape(f.target or "-"), f"[{style}]{f.status}[/]" if style else f.status,
                          f.base_severity or "-", f.new_severity or "-", escape(f.title))
        console.print(table)
    elif not moved:
        console.print("No findings in either run.")
    for b in c.budgets:
        mark = "[bold red]BREACHED[/]" if b.breached else "[green]ok[/]"
        console.print(f"budget {mark} [{b.entry.severity}] {escape(b.message)}")
    regressions = c.regressions()
    if not regressions and not any(f.status in (NEW, GROWN) for f in c.findings):
        console.print("[green]No significant regression.[/]")
    for reason in verdict.reasons:
        console.print(f"  - {escape(reason)}")
    console.print(verdict_line(verdict, markup=True))


def verdict_line(verdict: GateResult, markup: bool = False) -> str:
    """The one PASS/FAIL line that ends every comparison (on stderr with ``--json``)."""
    word = ("[bold red]FAIL[/]" if markup else "FAIL") if verdict.reasons else ("[green]PASS[/]" if markup else "PASS")
    if verdict.reasons:
        n = len(verdict.reasons)
        return f"{word} (exit {verdict.exit_code}): {n} reason{'s' if n != 1 else ''} at or above --fail-on {verdict.fail_on}"
    return f"{word}: no regression, new finding or budget breach at or above --fail-on {verdict.fail_on}"
