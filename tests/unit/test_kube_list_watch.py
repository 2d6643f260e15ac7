"""list_watch and Backoff against a fake API: 410 re-lists, bookmarks advance the resourceVersion, errors back off."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from profkit.kube.client import ApiHealth
from profkit.kube.errors import Forbidden, Gone, KubeError, Unreachable
from profkit.kube.listwatch import Changed, Failed, Listed, list_watch
from profkit.sources.backoff import Backoff


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"u-{name}", "resourceVersion": rv}}


class FakeApi:
    """Answers lists and watches from scripts; records what it was asked (the resourceVersion of every watch)."""

    def __init__(self, lists: list[dict[str, Any] | KubeError],
                 watches: list[list[dict[str, Any]] | KubeError]) -> None:
        self.lists, self.watches = lists, watches
        self.listed = 0
        self.watched_from: list[str] = []

    def list(self) -> dict[str, Any]:
        self.listed += 1
        answer = self.lists.pop(0)
        if isinstance(answer, KubeError):
            raise answer
        return answer

    def watch(self, resource_version: str) -> Iterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        script = self.watches.pop(0) if self.watches else []
        if isinstance(script, KubeError):
            raise script
        yield from script


class Waits(threading.Event):
    """A stop event that records the backoff delays instead of sleeping them."""

    def __init__(self) -> None:
        super().__init__()
        self.delays: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.delays.append(float(timeout or 0.0))
        return self.is_set()


def listing(rv: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": rv}, "items": list(items)}


def no_jitter(**kwargs: float) -> Backoff:
    return Backoff(uniform=lambda: 0.0, **kwargs)


def test_bookmarks_advance_the_resource_version_of_the_next_watch() -> None:
    api = FakeApi([listing("10", obj("a", "5"))], [
        [{"type": "ADDED", "object": obj("b", "11")}, {"type": "BOOKMARK", "object": {"metadata": {
            "resourceVersion": "15"}}}],
        [{"type": "MODIFIED", "object": obj("b", "16")}]])
    steps = list(list_watch(api, Waits(), iterations=3, backoff=no_jitter()))
    assert steps[0] == Listed([obj("a", "5")], "10", True)
    assert [s for s in steps[1:]] == [Changed("ADDED", obj("b", "11")), Changed("MODIFIED", obj("b", "16"))]
    assert api.watched_from == ["10", "15", "16"] and api.listed == 1  # the bookmark is not yielded


def test_410_gone_relists_at_once_as_an_error_event_or_an_exception() -> None:
    gone_event = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old resource version"}}
    api = FakeApi([listing("10"), listing("30", obj("a", "29")), listing("40")],
                  [[gone_event], Gone("watch pods: gone", 410), []])
    stop = Waits()
    steps = list(list_watch(api, stop, iterations=4, backoff=no_jitter()))
    assert [type(s) for s in steps] == [Listed, Listed, Listed]
    assert [s.first for s in steps if isinstance(s, Listed)] == [True, False, False]
    assert api.watched_from == ["10", "30", "40", "40"] and stop.delays == []  # no backoff for a 410


def test_errors_back_off_doubling_to_the_cap_and_reset_after_a_success() -> None:
    refused = Unreachable("API server s unreachable: connection refused", "connection refused")
    api = FakeApi([refused, refused, refused, refused, listing("7"), listing("8")],
                  [[{"type": "ADDED", "object": obj("a", "8")}], Forbidden("forbidden: cannot watch pods", 403)])
    health, stop = ApiHealth("https://s"), Waits()
    events: list[Any] = []
    health.emit = events.append
    steps = list(list_watch(api, stop, health=health, iterations=7, backoff=no_jitter(first=1.0, cap=4.0)))
    failures = [s.error for s in steps if isinstance(s, Failed)]
    assert failures[:4] == [refused] * 4 and isinstance(failures[4], Forbidden)
    assert stop.delays == [1.0, 2.0, 4.0, 4.0, 1.0]  # doubled to the cap; reset by the watch that worked
    assert [e.kind for e in events] == ["gap"] and health.down


def test_a_watch_error_other_than_410_is_a_failure_then_a_relist() -> None:
    api = FakeApi([listing("1"), listing("2")], [[{"type": "ERROR", "object": {"code": 500, "message": "boom"}}]])
    steps = list(list_watch(api, Waits(), what=("widgets.x", "ns"), iterations=2, backoff=no_jitter()))
    assert isinstance(steps[1], Failed) and str(steps[1].error) == "watch widgets.x in namespace ns: HTTP 500 boom"
    assert isinstance(steps[2], Listed) and api.listed == 2


def test_stops_on_the_stop_event_without_iteration_bound() -> None:
    stop = threading.Event()
    api = FakeApi([listing("1")], [[{"type": "ADDED", "object": obj("a", "2")},
                                    {"type": "ADDED", "object": obj("b", "3")}]])
    seen = []
    for step in list_watch(api, stop):
        seen.append(step)
        if isinstance(step, Changed):
            stop.set()
    assert len(seen) == 2 and api.watched_from == ["1"]  # the second event is never read


def test_backoff_jitter_shortens_and_never_exceeds_the_cap() -> None:
    draws = iter([0.5, 0.0, 0.99])
    backoff = Backoff(first=2.0, cap=5.0, jitter=0.2, uniform=lambda: next(draws))
    assert backoff.next() == pytest.approx(1.8)  # 2 s less 10 %
    assert backoff.next() == pytest.approx(4.0)
    assert backoff.next(cap=3.0) == pytest.approx(3.0 * (1 - 0.2 * 0.99))  # a per-call cap (a profile window)
    backoff.reset()
    assert backoff.current == 2.0
