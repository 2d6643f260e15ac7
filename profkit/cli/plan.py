"""``profkit plan``: the rate budget of periodic resync, the knee and the flag values that hold N objects."""

from __future__ import annotations

import json
import math
from typing import Optional

import typer

from profkit.errors import BadInput

EXAMPLES = """
Examples:

  # The 600-cluster lesson: resync alone eats 80 % of 10 QPS
  profkit plan --objects 600 --sync-period 10m --qps 10 --calls-per-reconcile 8

  # Flags for KCP to hold 2000 clusters, with the concurrency need from the reconcile time
  profkit plan --objects 600 --target kcp --calls-per-reconcile 8 --reconcile-time 0.2s --for-objects 2000

  profkit plan --objects 1000 --qps 20 --json
"""


def _pct(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value * 100:.0f} %"


def _num(value: float) -> str:
    return "unlimited" if math.isinf(value) else f"{value:.2f}".rstrip("0").rstrip(".")


def plan_command(
    objects: float = typer.Option(..., "--objects", min=0, help="Objects the controller reconciles (clusters, hosts)."),
    sync_period: Optional[str] = typer.Option(None, "--sync-period", help="Resync period, e.g. 10m (default: the target's, else 10m)."),
    qps: Optional[float] = typer.Option(None, "--qps", help="Client QPS limit (default: the target's, else 20); 0 or less means none."),
    burst: Optional[float] = typer.Option(None, "--burst", help="Client burst (default: the target's, else 30)."),
    calls: float = typer.Option(1.0, "--calls-per-reconcile", min=0, help="API requests per reconcile (rest_client_requests_total / reconciles)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="Worker count (default: the target's)."),
    reconcile_time: Optional[str] = typer.Option(None, "--reconcile-time", help="Time per reconcile, e.g. 0.2s, for the worker need."),
    events_per_min: float = typer.Option(0.0, "--events-per-min", min=0, help="Event-driven reconciles per minute on top of resync."),
    for_objects: list[float] = typer.Option([], "--for-objects", help="Object counts to size flags for (repeatable; default 2xN and 2000)."),
    target_share: float = typer.Option(0.5, "--max-resync-share", min=0.05, max=1.0, help="Keep resync under this share of QPS when sizing."),
    target: Optional[str] = typer.Option(None, "--target", help="Catalog alias (kcp, capi, bmo, ...): use its flag names and defaults."),
    release: Optional[str] = typer.Option(None, "--release", metavar="VERSION", help="The target's release (e.g. v1.4.9): the flags and defaults that release has."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Predict what periodic resync costs at N objects and which flags hold more."""
    from profkit.analyze.rate_budget import BudgetInput, default_for_objects, plan
    from profkit.analyze.tuning import catalog_spec, resolve_tuning
    from profkit.catalog import parse_version
    from profkit.model import Target
    from profkit.units import format_duration, parse_duration

    if target is not None and catalog_spec(None, target) is None:
        raise BadInput(f"--target {target}: not in the catalog (see profkit targets list)")
    if release is not None and (target is None or parse_version(release) is None):
        raise BadInput(f"--release {release}: " + ("needs --target ALIAS" if target is None
                                                     else "not a release number like v1.5.0"))
    tuning = resolve_tuning(Target(target, "deployment", {"alias": target, "version": release,
                                                          "version_source": "--release"}) if target else None,
                            target or "")
    period = parse_duration(sync_period, flag="sync-period") if sync_period else tuning.sync_period
    if period <= 0:
        raise BadInput("--sync-period must be longer than 0s")
    work = parse_duration(reconcile_time, flag="reconcile-time") if reconcile_time else None
    inp = BudgetInput(
        objects=objects, sync_period=period, qps=tuning.qps if qps is None else qps,
        burst=tuning.burst if burst is None else burst, calls_per_reconcile=calls,
        concurrency=concurrency if concurrency is not None else tuning.concurrency,
        reconcile_time=work, event_reconciles_per_s=events_per_min / 60.0,
    )
    result = plan(inp, sorted(for_objects) or default_for_objects(objects), target_share)
    flags = {"qps": tuning.qps_flag, "burst": tuning.burst_flag, "sync_period": tuning.sync_flag,
             "concurrency": list(tuning.concurrency_flags)}
    if as_json:
        doc = result.to_json()
        doc["flags"] = flags
        doc["target"] = tuning.alias if target else None
        if target:
            doc["controller_flags"] = tuning.flags_status()
        typer.echo(json.dumps(doc, indent=2, default=str))
        return
    p, q = result, inp.qps
    conc_flag = tuning.concurrency_flags[0] if len(tuning.concurrency_flags) == 1 else "/".join(tuning.concurrency_flags)
    who = f" for {tuning.alias}" if target else ""
    lines = [
        f"Rate budget{who} at {objects:g} objects ({tuning.sync_flag}={format_duration(period)}, "
        f"{calls:g} calls per reconcile, {tuning.qps_label}={_num(q) if q > 0 else 'none'}, "
        f"{tuning.burst_label}={inp.burst:g})",
        "",
        f"  periodic resync    {objects:g} objects / {period:g} s = {_num(p.resync_reconciles_per_s)} reconciles/s "
        f"x {calls:g} calls = {_num(p.resync_rps)} req/s",
    ]
    if p.limited:
        verdict = ("over the limit: the workqueue only grows" if p.share >= 1 else
                   "most of the budget is gone before any real work" if p.share >= 0.5 else "fits")
        lines += [
            f"  share of budget    {_pct(p.share)} of {q:g} QPS ({verdict})",
            f"  left for events    {_num(max(p.left_rps, 0.0))} req/s = {_num(max(p.left_reconciles_per_s, 0.0) * 60)} "
            "reconciles/min for event-driven work (creating clusters, status changes)",
            f"  knee               {p.knee_objects:.0f} objects: {q:g} QPS x {period:g} s / {calls:g} calls "
            "= resync alone takes 100 % of the budget",
        ]
        if p.burst_seconds > 0:
            lines.append(f"  burst              {inp.burst:g} tokens cover the deficit for {p.burst_seconds:.1f} s, "
                         "then requests wait (client-side throttling)")
    else:
        lines.append("  share of budget    no client-side QPS limit (server-side priority and fairness only)")
    if p.busy_workers is not None and work is not None:
        have = f", have {inp.concurrency}" if inp.concurrency else ""
        util = f" ({p.worker_utilisation:.0%} busy)" if p.worker_utilisation is not None else ""
        lines.append(f"  workers            Little's law: {_num(p.total_reconciles_per_s)} reconciles/s x {work:g} s = "
                     f"{p.busy_workers:.2f} busy on average; {p.workers_needed} with 2x headroom{have}{util}")
    else:
        lines.append("  workers            pass --reconcile-time (e.g. 0.2s) for the concurrency need")
    lines += ["", f"Flag values that hold (resync under {target_share:.0%} of QPS):"]
    for h in p.holds:
        conc = f" {conc_flag}={h.concurrency}" if h.concurrency else ""
        now = f"; at today's {q:g} QPS resync would take {_pct(h.share_at_current_qps)}" if p.limited else ""
        lines.append(f"  {h.objects:>7g} objects  {tuning.qps_burst_flags(h.qps, h.burst)}{conc}  "
                     f"(resync {_num(h.resync_rps)} req/s{now})")
    if p.limited:
        lines += ["", f"Or lengthen {tuning.sync_flag}: {tuning.sync_flag}={format_duration(2 * period)} halves "
                      "the resync cost; fewer calls per reconcile (reads from the cache) help every count."]
    if target and tuning.rate_limit_note():
        lines += ["", tuning.rate_limit_note().strip()]
    typer.echo("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("plan", help="Predict the client rate budget of periodic resync, the knee, and flags for N objects.\n"
                + EXAMPLES)(plan_command)
