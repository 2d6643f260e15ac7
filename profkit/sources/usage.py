"""Process usage collector: psutil CPU seconds and RSS of a local process, sampled every interval."""

from __future__ import annotations

import threading
import time

import psutil

from profkit.sources.base import CaptureOptions, Collector, Sink
from profkit.model.metric_names import PROCESS_CPU_SECONDS, PROCESS_RESIDENT_MEMORY

LABELS = {"source": "psutil"}


class UsageCollector(Collector):
    """Stores ``process_cpu_seconds_total`` and ``process_resident_memory_bytes`` {source="psutil"}."""

    kind = "usage"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, pid: int,
                 expect_exit: bool = False) -> None:
        super().__init__(sink, target, instance, options)
        self.pid = pid
        self.expect_exit = expect_exit  # a launched command ending is not an error

    def describe(self) -> str:
        return f"usage pid {self.pid}"

    def sample(self, process: psutil.Process) -> None:
        with process.oneshot():
            cpu = process.cpu_times()
            rss = process.memory_info().rss
        samples = [
            (PROCESS_CPU_SECONDS, LABELS, float(cpu.user + cpu.system)),
            (PROCESS_RESIDENT_MEMORY, LABELS, float(rss)),
        ]
        self.stats.points += self.sink.add_points(self.target, self.instance, time.time(), samples)
        self.stats.scrapes += 1

    def run(self, stop: threading.Event) -> None:
        try:
            process = psutil.Process(self.pid)
        except psutil.Error as exc:
            self.error(f"pid {self.pid}: {exc}")
            return
        interval = self.options.scrape_interval
        next_at = last = time.time()
        while not stop.is_set():
            last = time.time()
            try:
                self.sample(process)
            except psutil.NoSuchProcess:
                if self.expect_exit:
                    self.info(f"pid {self.pid} exited")
                else:
                    self.error(f"pid {self.pid} exited during the capture")
                return
            except psutil.Error as exc:
                self.error(f"pid {self.pid}: {exc}")
            next_at = max(next_at + interval, time.time() + 0.1)
            stop.wait(max(0.0, next_at - time.time()))
        if time.time() - last > 1.0:  # a last sample as the capture ends, so CPU covers all of it
            try:
                self.sample(process)
            except psutil.Error:
                pass
