"""py-spy collector for a pod of a Python controller: consecutive windows through profkit.kube.pyspy.PodPySpy."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

from profkit.kube.client import KubeAccess
from profkit.sources.backoff import Backoff
from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.sources.pyspy import PROCESS_CPU, THREAD_CPU

#: Where the pod's CPU counters came from (the local collector's are labelled psutil).
CPU_LABELS = {"source": "proc"}

if TYPE_CHECKING:
    from profkit.kube.pyspy import CpuSnapshot

MIN_WINDOW = 1.0
PATHS = {"exec": "exec", "agent": "node agent"}  # PodPySpy.mode -> the words of the summary


class PodPySpyCollector(Collector):
    """Records speedscope CPU windows of one pod's container (exec, or a node agent that is always removed)."""

    kind = "py-spy"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, access: KubeAccess,
                 namespace: str, pod: str, container: str | None,
                 on_path: Callable[[str], None] | None = None) -> None:
        super().__init__(sink, target, instance, options)
        self.access = access
        self.namespace, self.pod, self.container = namespace, pod, container
        self.on_path = on_path  # told once which path py-spy took: "exec" or "node agent"
        self.path: str | None = None

    def describe(self) -> str:
        return f"py-spy {self.namespace}/{self.pod}"

    def _tell_path(self, mode: str | None) -> None:
        path = PATHS.get(mode or "")
        if path is not None and path != self.path:
            self.path = path
            if self.on_path is not None:
                self.on_path(path)

    def _store_cpu(self, edges: list[tuple[float, CpuSnapshot]]) -> None:
        """The pod process's and threads' CPU seconds at the window's edges, named as the local
        py-spy collector names them, so the reader scales this pod's profile the same way."""
        for ts, snapshot in edges:
            samples = [(THREAD_CPU, {**CPU_LABELS, "tid": tid}, seconds)
                       for tid, seconds in snapshot.thread_seconds.items()]
            if snapshot.process_seconds is not None:
                samples.insert(0, (PROCESS_CPU, CPU_LABELS, snapshot.process_seconds))
            self.sink.add_points(self.target, self.instance, ts, samples)

    def run(self, stop: threading.Event) -> None:
        from profkit.kube.pyspy import PodPySpy, PySpyError, PySpyOptions

        # Its own client: exec goes through kubernetes.stream, which must not share one with other threads.
        spy = PodPySpy(self.access.websocket_client(), self.namespace, self.pod, self.container,
                       PySpyOptions(rate=self.options.pyspy_rate))
        backoff = Backoff()
        try:
            while not stop.is_set():
                window = self.window(stop)
                if window < MIN_WINDOW:
                    return
                self.expected_done = time.time() + window + 5.0
                try:
                    data = spy.record(window, stop)
                except PySpyError as exc:
                    self.expected_done = None
                    if not stop.is_set():
                        self.error(str(exc))
                    backoff.wait(stop, cap=max(window, 1.0))
                    continue
                except Exception as exc:  # noqa: BLE001 - PySpyNotAllowed (BadInput) and API errors
                    self.expected_done = None
                    self.error(f"py-spy on {self.namespace}/{self.pod}: {exc}")
                    return
                self.expected_done = None
                backoff.reset()
                self.answered = True
                self._tell_path(spy.mode)
                start, duration = spy.last_window
                self._store_cpu(spy.last_cpu)
                if self.sink.add_profile(self.target, self.instance, "cpu", "speedscope", data, start,
                                         duration) is not None:
                    self.stats.profiles += 1
                    self.sink.touch_instance(self.target, self.instance)
        finally:
            spy.close()
