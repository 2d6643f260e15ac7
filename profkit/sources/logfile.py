"""Log collectors: follow a file like ``tail -F`` from its start, or read a stream, parsing every line."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import IO

from profkit.formats.logs import LineAssembler, parse_line
from profkit.model import LogRecord
from profkit.sources.base import CaptureOptions, Collector, Sink

POLL = 0.25  # seconds between looks at a quiet file
BATCH_LINES = 5000  # a busy log (thousands of lines/s) commits every 5000 lines; a quiet one every BATCH_SECONDS
BATCH_SECONDS = 0.5


class LogBatcher:
    """Parses lines and writes them in batches (one transaction per batch, not per line); every log source uses it."""

    def __init__(self, collector: Collector, max_lines: int = BATCH_LINES) -> None:
        self.collector = collector
        self.max_lines = max_lines
        self.pending: list[LogRecord] = []
        self.flushed_at = time.monotonic()
        self.assembler = LineAssembler()  # klog multi-line values and CRI partial lines become one record

    def add(self, line: str, *, stamp: float | None = None, fields: dict[str, str] | None = None) -> None:
        """One physical line; ``stamp`` is when the reader says it was written (the log API's nanosecond time).

        The reader's stamp wins over the line's own (often whole-second) one when they are within 2 s of
        each other; ``fields`` are added where the line has none of its own (e.g. the container). A line
        that continues a record (klog's ``key=<`` ... `` >``) is joined to it first.
        """
        if not line.strip():
            return
        for text, first_stamp, first_fields in self.assembler.feed(line, stamp, fields):
            self._add_record(text, first_stamp, first_fields)

    def _add_record(self, text: str, stamp: float | None, fields: dict[str, str] | None) -> None:
        c = self.collector
        record = parse_line(text, target=c.target, instance=c.instance, read_time=stamp)
        if stamp is not None and (not record.ts or abs(record.ts - stamp) < 2.0):
            record.ts = stamp
        for key, value in (fields or {}).items():
            record.fields.setdefault(key, value)
        self.pending.append(record)
        if len(self.pending) >= self.max_lines:
            self.flush()

    def due(self) -> bool:
        return (bool(self.pending) or self.assembler.stale()) and time.monotonic() - self.flushed_at >= BATCH_SECONDS

    def flush(self) -> None:
        """Write what is parsed; a record still waiting for its next line is kept unless it waited too long."""
        if self.assembler.stale():
            for text, stamp, fields in self.assembler.drain():
                self._add_record(text, stamp, fields)
        if self.pending:
            self.collector.sink.add_logs(self.pending)
            self.collector.stats.log_lines += len(self.pending)
            self.pending = []
        self.flushed_at = time.monotonic()

    def close(self) -> None:
        """The stream ended: write everything, an unfinished multi-line record too."""
        for text, stamp, fields in self.assembler.drain():
            self._add_record(text, stamp, fields)
        self.flush()


class LogFileCollector(Collector):
    """Follows ``path`` from its first line; survives rotation (new inode) and truncation."""

    kind = "logs"

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, path: Path) -> None:
        super().__init__(sink, target, instance, options)
        self.path = path

    def describe(self) -> str:
        return f"log file {self.path}"

    def _open(self, stop: threading.Event) -> IO[bytes] | None:
        reported = False
        while not stop.is_set():
            try:
                return open(self.path, "rb")
            except FileNotFoundError:
                if not reported and not self.in_grace():
                    self.error(f"{self.path}: no such file yet; waiting for it")
                    reported = True
            except OSError as exc:
                self.error(f"{self.path}: {exc}")
                return None
            stop.wait(POLL)
        return None

    def run(self, stop: threading.Event) -> None:
        handle = self._open(stop)
        if handle is None:
            return
        batch = LogBatcher(self)
        partial = b""
        try:
            while True:
                chunk = handle.readline()
                if chunk:
                    if chunk.endswith(b"\n"):
                        batch.add((partial + chunk).decode("utf-8", errors="replace"))
                        partial = b""
                    else:
                        partial += chunk  # the writer is mid-line; wait for the rest
                    if batch.due():
                        batch.flush()
                    continue
                batch.flush()
                if stop.wait(POLL):
                    # Drain what was written up to the stop, then keep a trailing partial line too.
                    rest = handle.read()
                    for line in (partial + rest).decode("utf-8", errors="replace").split("\n"):
                        batch.add(line)
                    batch.close()
                    return
                reopened = self._rotated(handle)
                if reopened is not None:
                    for line in partial.decode("utf-8", errors="replace").split("\n"):
                        batch.add(line)
                    partial = b""
                    handle.close()
                    handle = reopened
        finally:
            handle.close()

    def _rotated(self, handle: IO[bytes]) -> IO[bytes] | None:
        """A fresh handle when the path now names another file or the file was truncated."""
        try:
            on_disk = os.stat(self.path)
        except OSError:
            return None
        current = os.fstat(handle.fileno())
        if (on_disk.st_ino, on_disk.st_dev) != (current.st_ino, current.st_dev):
            try:
                return open(self.path, "rb")
            except OSError:
                return None
        if on_disk.st_size < handle.tell():
            handle.seek(0)
        return None


class StreamLogCollector(Collector):
    """Reads a child's stdout or stderr line by line until it closes (for ``-- CMD`` targets)."""

    kind = "logs"
    ends_with_command = True

    def __init__(self, sink: Sink, target: str, instance: str, options: CaptureOptions, stream: IO[bytes],
                 name: str, echo: IO[str] | None = None) -> None:
        super().__init__(sink, target, instance, options)
        self.stream = stream
        self.name = name
        self.echo = echo

    def describe(self) -> str:
        return f"command {self.name}"

    def run(self, stop: threading.Event) -> None:
        batch = LogBatcher(self)
        flusher_stop = threading.Event()

        def flush_quiet_periods() -> None:  # a quiet child still gets its last lines stored promptly
            while not flusher_stop.wait(BATCH_SECONDS):
                with lock:
                    if batch.due():
                        batch.flush()

        lock = threading.Lock()
        flusher = threading.Thread(target=flush_quiet_periods, daemon=True, name=f"flush-{self.name}")
        flusher.start()
        try:
            for raw in iter(self.stream.readline, b""):
                line = raw.decode("utf-8", errors="replace")
                if self.echo is not None:
                    self.echo.write(line)
                    self.echo.flush()
                with lock:
                    batch.add(line)
        except (OSError, ValueError):
            pass  # the pipe closed under us as the capture ended
        finally:
            flusher_stop.set()
            with lock:
                batch.close()
