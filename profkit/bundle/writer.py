"""BundleWriter: the one place captures write to; every write is committed as it happens."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable, Sequence

from profkit import __version__
from profkit.bundle.schema import DB_NAME, PROFILES_DIR, SCHEMA, SCHEMA_VERSION
from profkit.errors import BadInput
from profkit.formats.logs import object_key_of
from profkit.model import CaptureEvent, LogRecord, ObjectEvent, Target

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# json.dumps(fields, default=str) without building a new encoder for every log line.
_encode_fields = json.JSONEncoder(default=str).encode


def safe_name(text: str) -> str:
    """A file-system-safe version of a target or pod name."""
    return _UNSAFE.sub("_", text).strip("._") or "_"


def utc_stamp(ts: float) -> str:
    """A sortable UTC timestamp for file names, e.g. ``20261124T083000.123Z``."""
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(ts)) + f".{int(ts * 1000) % 1000:03d}Z"


class BundleWriter:
    """Thread-safe writer. Each call commits, so a SIGKILL loses at most the call in flight."""

    def __init__(self, directory: Path | str, *, command: Sequence[str] = ()) -> None:
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise BadInput(f"--out {self.directory}: exists and is not a directory")
        if (self.directory / DB_NAME).exists():
            raise BadInput(f"--out {self.directory}: already holds a bundle; choose a new directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.directory / DB_NAME, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._series_ids: dict[tuple[str, str, str, str], int] = {}
        now = time.time()
        self.set_meta(
            schema_version=str(SCHEMA_VERSION),
            profkit_version=__version__,
            started=repr(now),
            status="running",
            command=json.dumps(list(command)),
        )

    # -- meta and targets -------------------------------------------------
    def set_meta(self, **values: str) -> None:
        with self._lock:
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )
            self._db.commit()

    def add_target(self, target: Target) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO targets (name, kind, spec) VALUES (?, ?, ?)",
                (target.name, target.kind, json.dumps(target.spec, default=str)),
            )
            self._db.commit()

    def add_target_facts(self, name: str, facts: dict[str, object]) -> None:
        """Add keys to a recorded target's spec that it does not have yet (facts learnt while capturing)."""
        with self._lock:
            row = self._db.execute("SELECT spec FROM targets WHERE name = ?", (name,)).fetchone()
            if row is None:
                return
            spec = json.loads(row[0] or "{}")
            missing = {k: v for k, v in facts.items() if spec.get(k) in (None, [], "")}
            if not missing:
                return
            spec.update(missing)
            self._db.execute("UPDATE targets SET spec = ? WHERE name = ?", (json.dumps(spec, default=str), name))
            self._db.commit()

    def touch_instance(self, target: str, instance: str, info: dict[str, object] | None = None,
                       at: float | None = None) -> None:
        """Record that a pod or process was seen now, or ``at`` (first and last sighting kept)."""
        now = time.time() if at is None else at
        with self._lock:
            self._db.execute(
                "INSERT INTO instances (target, instance, first_seen, last_seen, info) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(target, instance) DO UPDATE SET last_seen = excluded.last_seen"
                + (", info = excluded.info" if info is not None else ""),
                (target, instance, now, now, json.dumps(info or {}, default=str)),
            )
            self._db.commit()

    # -- profiles ---------------------------------------------------------
    def profile_path(self, target: str, instance: str, kind: str, start: float, suffix: str) -> Path:
        """Where a raw profile goes: ``profiles/<target>/<instance>/<kind>-<UTC>.<suffix>``."""
        folder = self.directory / PROFILES_DIR / safe_name(target) / safe_name(instance)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{kind}-{utc_stamp(start)}{suffix}"

    def add_profile(
        self, target: str, instance: str, kind: str, fmt: str, data: bytes, start: float, duration: float
    ) -> Path:
        """Store raw profile bytes exactly as fetched, then index them."""
        suffix = ".pb.gz" if fmt == "pprof" else ".speedscope.json"
        path = self.profile_path(target, instance, kind, start, suffix)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        self.index_profile(target, instance, kind, fmt, path, start, duration)
        return path

    def index_profile(
        self, target: str, instance: str, kind: str, fmt: str, path: Path, start: float, duration: float
    ) -> None:
        rel = str(path.relative_to(self.directory))
        with self._lock:
            self._db.execute(
                "INSERT INTO profiles (target, instance, kind, format, path, start, duration, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (target, instance, kind, fmt, rel, start, duration, path.stat().st_size),
            )
            self._db.commit()

    # -- metrics ------------------------------------------------------------
    def add_points(
        self, target: str, instance: str, ts: float, samples: Iterable[tuple[str, dict[str, str], float]]
    ) -> int:
        """Store one scrape: ``(name, labels, value)`` samples all at time ``ts``; the number stored.

        ±Inf is stored as it is. NaN cannot be (SQLite turns it into NULL), so a NaN sample is skipped
        and the rest of the scrape kept; callers count the NaN samples they pass. A scrape is stored
        whole or, on a database error, not at all.
        """
        with self._lock:
            try:
                rows = [(self._series_id(target, instance, name, labels), ts, value)
                        for name, labels, value in samples if value == value]  # NaN != NaN
                self._db.executemany("INSERT INTO points (series_id, ts, value) VALUES (?, ?, ?)", rows)
                self._db.commit()
            except sqlite3.Error:
                self._db.rollback()
                self._series_ids.clear()  # ids of series rolled back with the scrape are gone
                raise
        return len(rows)

    def _series_id(self, target: str, instance: str, name: str, labels: dict[str, str]) -> int:
        key = (target, instance, name, json.dumps(labels, sort_keys=True))
        series_id = self._series_ids.get(key)
        if series_id is None:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO series (target, instance, name, labels) VALUES (?, ?, ?, ?)", key
            )
            if cur.lastrowid and cur.rowcount:
                series_id = cur.lastrowid
            else:
                row = self._db.execute(
                    "SELECT id FROM series WHERE target=? AND instance=? AND name=? AND labels=?", key
                ).fetchone()
                series_id = int(row[0])
            self._series_ids[key] = series_id
        return series_id

    # -- logs, objects, events -------------------------------------------
    def add_logs(self, records: Sequence[LogRecord]) -> None:
        if not records:
            return
        with self._lock:
            self._db.executemany(
                "INSERT INTO logs (target, instance, ts, level, logger, controller, object_key, message, fields, raw) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.target, r.instance, r.ts, r.level, r.logger, r.controller,
                        r.object_key or object_key_of(r.fields),
                        r.message, _encode_fields(r.fields), r.raw,
                    )
                    for r in records
                ],
            )
            self._db.commit()

    def add_objects(self, events: Sequence[ObjectEvent]) -> None:
        if not events:
            return
        with self._lock:
            self._db.executemany(
                "INSERT INTO objects (ts, target, resource, namespace, name, uid, event, deletion_ts, finalizers, ready) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.ts, e.target, e.resource, e.namespace, e.name, e.uid, e.event, e.deletion_ts,
                        json.dumps(e.finalizers), None if e.ready is None else int(e.ready),
                    )
                    for e in events
                ],
            )
            self._db.commit()

    def add_event(self, event: CaptureEvent) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO events (ts, kind, message, target, instance, collector) VALUES (?, ?, ?, ?, ?, ?)",
                (event.ts, event.kind, event.message, event.target, event.instance, event.collector),
            )
            self._db.commit()

    def error(self, target: str, collector: str, message: str, instance: str = "") -> None:
        """Record a collector error in the bundle; the capture goes on."""
        self.add_event(CaptureEvent(time.time(), "error", message, target, instance, collector))

    def close(self, status: str = "complete", ended: float | None = None) -> None:
        self.set_meta(status=status, ended=repr(time.time() if ended is None else ended))
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
