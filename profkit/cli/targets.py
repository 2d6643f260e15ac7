"""``profkit targets``: list the known controllers and show how profkit reaches one."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  profkit targets list

  profkit targets show kcp

  profkit targets show --collector my-operator.yaml my-operator
"""


def targets(
    action: str = typer.Argument("list", help="list | show"),
    name: Optional[str] = typer.Argument(None, help="Alias or deployment name (for show)."),
    collector: list[Path] = typer.Option([], "--collector", help="Extra collector definition (YAML)."),
) -> None:
    """List the controllers profkit knows, or show how it captures one."""
    from rich.console import Console
    from rich.table import Table

    from profkit.catalog import builtin_catalog, load_collector_file, resolve

    extra = [load_collector_file(path) for path in collector]
    console = Console()
    if action == "list":
        catalog = builtin_catalog()
        catalog.update({spec.alias: spec for spec in extra})
        table = Table("alias", "deployment", "namespace", "endpoints", "description")
        for spec in catalog.values():
            endpoints = ", ".join(f"{e.port}/{e.scheme}{'+token' if e.auth == 'bearer' else ''}" for e in spec.endpoints)
            table.add_row(spec.alias, spec.deployment, spec.namespace, endpoints, spec.description)
        console.print(table)
        return
    if action != "show":
        raise BadInput(f"targets {action!r}: unknown action (use list or show)")
    if not name:
        raise BadInput("targets show: name an alias or deployment, e.g. profkit targets show kcp")
    found = resolve(name, extra)
    if found is None:
        raise BadInput(f"targets show {name}: not in the catalog (see profkit targets list)")
    spec = found
    console.print(f"[bold]{spec.alias}[/bold]  {spec.description}")
    console.print(f"  deployment  {spec.namespace}/{spec.deployment} (container {spec.container or 'first'})")
    console.print(f"  language    {spec.language}, logs {spec.log_format}")
    for e in spec.endpoints:
        served = " and ".join(x for x in (e.metrics and f"metrics {e.metrics}", e.pprof and f"pprof {e.pprof}") if x)
        when = f" (when the container has {e.when_arg})" if e.when_arg else ""
        console.print(f"  endpoint    {e.name}: port {e.port} {e.scheme} auth={e.auth}: {served}{when}")
    if spec.resources:
        console.print(f"  watches     {', '.join(spec.resources)}")
    flags = ", ".join(spec.concurrency_flags() + [spec.flag(k) for k in ("qps", "burst", "sync_period") if spec.flag(k)])
    console.print(f"  tuning      {flags}")
    for h in spec.flag_history.values():
        since = f"from {spec.release(h.since_text)}" if h.since_text else ""
        until = f"no effect from {spec.release(h.until_text)}" if h.until_text else ""
        console.print(f"  flag        {h.flag}: {', '.join(x for x in (since, until, h.change) if x)}")


def register(app: typer.Typer) -> None:
    app.command("targets", help="List known controllers or show one." + EXAMPLES)(targets)
