"""Objects panels count only the namespaces the controller watches (from its container's --namespace args)."""

from __future__ import annotations

from pathlib import Path

import pytest

from profkit.bundle import BundleWriter, open_bundle
from profkit.model import ObjectEvent, Target
from profkit.render.dashboard_spec import SeriesSpec
from profkit.render.panel_data import namespaces_from_args, series_lines

T0 = 1_700_000_000.0


def bundle(tmp_path: Path, args: list[str]) -> Path:
    writer = BundleWriter(tmp_path / "b")
    writer.add_target(Target("widget-operator", "deployment", {"namespace": "ops", "args": args}))
    events = [ObjectEvent(T0 + i, "widgets.profkit.example", "ops", f"w-{i}", "added", uid=f"ops-{i}",
                          target="widget-operator") for i in range(3)]
    events += [ObjectEvent(T0 + i, "widgets.profkit.example", "other", f"w-{i}", "added", uid=f"other-{i}",
                           target="widget-operator") for i in range(5)]
    writer.add_objects(events)
    writer.set_meta(started=repr(T0), ended=repr(T0 + 60))
    writer.close()
    return tmp_path / "b"


@pytest.mark.parametrize(("args", "existing"), [
    (["kopf", "run", "--namespace", "ops", "/app/widgetop/handlers.py"], 3),
    (["/manager", "--namespace=ops,team-b"], 3),
    (["kopf", "run", "--all-namespaces", "/app/h.py"], 8),
    (["/manager", "--leader-elect"], 8),
])
def test_objects_existing_counts_the_watched_namespaces_only(tmp_path: Path, args: list[str], existing: int) -> None:
    view = open_bundle(bundle(tmp_path, args))
    for target in ("widget-operator", None):
        [line] = series_lines(view, SeriesSpec(source="objects", transform="existing"), target)
        assert line.values[-1] == existing


def test_namespace_flags() -> None:
    assert namespaces_from_args(["-n", "a", "--namespace=b,c"]) == {"a", "b", "c"}
    assert namespaces_from_args(["--namespace", "$(NAMESPACE)"]) is None  # unresolved: unknown
