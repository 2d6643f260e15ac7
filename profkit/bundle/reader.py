"""BundleView: read-only access to a bundle for analyzers and renderers (no network, no CLI)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence
from urllib.parse import quote

from profkit.bundle.schema import DB_NAME, SCHEMA_VERSION
from profkit.errors import BadInput
from profkit.model import (CaptureEvent, LogRecord, ObjectEvent, Profile, ProfileKind, ProfileRef, Series, Target,
                           merge_profiles)


PROFILE_MEMO_BYTES = 64 * 2**20  # profile files (compressed) whose decoded form a view keeps


def _connect_read_only(db: Path) -> sqlite3.Connection:
    """Open the bundle database without ever writing to the bundle directory.

    A capture that ended closed its database and SQLite removed the WAL: ``immutable=1`` then reads
    it with no locks and creates no ``-shm``/``-wal`` files (so a bundle on a read-only share or in
    CI artifacts works and its checksum does not change). While a capture is writing (or after one
    was killed) the WAL exists and is read through ``mode=ro``.
    """
    path = quote(str(db.resolve()))
    wal = db.with_name(db.name + "-wal")
    flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
    return sqlite3.connect(f"file:{path}?{flags}", uri=True, check_same_thread=False)


def open_bundle(directory: Path | str) -> BundleView:
    """Open a bundle directory, with a one-line error when it is not one."""
    path = Path(directory)
    if not path.is_dir():
        raise BadInput(f"{path}: no such bundle directory")
    if not (path / DB_NAME).is_file():
        raise BadInput(f"{path}: not a profkit bundle (no {DB_NAME})")
    return BundleView(path)


class BundleView:
    """Read access to one bundle. Works on bundles of interrupted or killed captures too."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._snapshot: tempfile.TemporaryDirectory[str] | None = None
        try:
            self._db = _connect_read_only(directory / DB_NAME)
            self._meta: dict[str, str] = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            # A WAL left by a killed writer without its -shm cannot be read in place without writing
            # to the bundle: read a private copy of the database and its WAL instead.
            try:
                self._snapshot = tempfile.TemporaryDirectory(prefix="profkit-bundle-")
                copy = Path(self._snapshot.name) / DB_NAME
                for suffix in ("", "-wal"):
                    source = directory / (DB_NAME + suffix)
                    if source.exists():
                        shutil.copyfile(source, copy.with_name(copy.name + suffix))
                self._db = sqlite3.connect(copy, check_same_thread=False)
                self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            except (sqlite3.DatabaseError, OSError):
                raise BadInput(f"{directory / DB_NAME}: unreadable bundle database ({exc})") from None
        version = int(self._meta.get("schema_version", "0"))
        if version > SCHEMA_VERSION:
            raise BadInput(f"{directory}: bundle schema {version} is newer than this profkit ({SCHEMA_VERSION})")
        # A view is a snapshot for one command: analyzers and renderers ask for the same series and
        # profiles again and again, so each is read once. Series are shared; callers never mutate them.
        self._series_memo: dict[tuple[str | None, str | None, str | None], list[Series]] = {}
        self._profile_memo: dict[str, Profile] = {}
        self._profile_memo_bytes = 0
        self._unreadable: dict[str, str] = {}

    # -- meta --------------------------------------------------------------
    @property
    def meta(self) -> dict[str, str]:
        return dict(self._meta)

    @property
    def status(self) -> str:
        """complete | interrupted | running (a killed capture stays ``running``)."""
        return str(self._meta.get("status", "running"))

    def time_range(self) -> tuple[float, float]:
        """Start and end of the capture; for a killed capture, the last record written."""
        start = float(self._meta.get("started", "0"))
        end = self._meta.get("ended")
        if end is not None:
            return start, float(end)
        last = [
            self._db.execute(q).fetchone()[0]
            for q in (
                "SELECT max(ts) FROM points",
                "SELECT max(start + duration) FROM profiles",
                "SELECT max(ts) FROM logs",
                "SELECT max(ts) FROM events",
            )
        ]
        return start, max([start] + [float(x) for x in last if x is not None])

    def targets(self) -> list[Target]:
        rows = self._db.execute("SELECT name, kind, spec FROM targets ORDER BY name").fetchall()
        return [Target(name, kind, json.loads(spec)) for name, kind, spec in rows]

    def targets_with_data(self) -> list[str]:
        """Targets with anything to show: declared ones (by name), then any seen only in profiles or metrics."""
        names = [t.name for t in self.targets()]
        seen = {r.target for r in self.profile_refs()} | {i["target"] for i in self.instances()}
        return names + sorted(t for t in seen if t and t not in names)

    def instances(self, target: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT target, instance, first_seen, last_seen, info FROM instances"
        rows = self._db.execute(query + (" WHERE target=?" if target else "") + " ORDER BY first_seen",
                                (target,) if target else ()).fetchall()
        return [
            {"target": t, "instance": i, "first_seen": f, "last_seen": last, "info": json.loads(info)}
            for t, i, f, last, info in rows
        ]

    # -- profiles ----------------------------------------------------------
    def profile_refs(self, target: str | None = None, kind: str | None = None) -> list[ProfileRef]:
        clauses, params = _where(target=target, kind=kind)
        rows = self._db.execute(
            "SELECT id, target, instance, kind, format, path, start, duration, size FROM profiles"
            + clauses + " ORDER BY start",
            params,
        ).fetchall()
        return [ProfileRef(*row) for row in rows]

    def load_profile(self, ref: ProfileRef) -> Profile:
        """Decode one stored profile, kept for reuse up to PROFILE_MEMO_BYTES of files.

        Raises BadInput naming the file if it is damaged.
        """
        found = self._profile_memo.get(ref.path)
        if found is None:
            found = self._decode_profile(ref.path, ref.target, ref.instance, ref.kind, ref.start, ref.duration)
            if self._profile_memo_bytes + ref.size <= PROFILE_MEMO_BYTES:
                self._profile_memo[ref.path] = found
                self._profile_memo_bytes += ref.size
        return found

    def _decode_profile(
        self, rel: str, target: str, instance: str, kind: ProfileKind, start: float, duration: float
    ) -> Profile:
        from profkit.formats import load_profile_file

        path = self.directory / rel
        if rel.endswith(".speedscope.json"):  # py-spy: samples of runnable threads, scaled to CPU time
            profile = self._pyspy_cpu(path, target, instance, kind, start, duration)
        else:
            profile = load_profile_file(path, kind=kind)
        profile.target, profile.instance = target, instance
        if start:
            profile.start = start
        if duration:
            profile.duration = duration
        return profile

    def _pyspy_cpu(self, path: Path, target: str, instance: str, kind: ProfileKind, start: float,
                   duration: float) -> Profile:
        from profkit.bundle.cpu_time import Window, cpu_seconds_profile
        from profkit.formats import load_profile_bytes

        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInput(f"{path}: cannot read profile ({exc.strerror})") from None
        return cpu_seconds_profile(data, lambda raw: load_profile_bytes(raw, str(path), kind=kind),
                                   Window(instance, start, duration), lambda name: self.series(name, target=target))

    def profiles(self, target: str | None = None, kind: str | None = None) -> Iterator[tuple[ProfileRef, Profile]]:
        """Decoded profiles; a damaged file is not raised but reported by :meth:`unreadable_profiles`."""
        for ref in self.profile_refs(target, kind):
            try:
                yield ref, self.load_profile(ref)
            except BadInput as exc:
                self._unreadable[ref.path] = str(exc)

    def unreadable_profiles(self) -> dict[str, str]:
        """Profile files :meth:`profiles` could not decode so far: bundle path -> the one-line error."""
        return dict(self._unreadable)

    def merged_profile(self, target: str | None = None, kind: str = "cpu") -> Profile | None:
        """All windows (and replicas) of one kind merged, or None when there are none."""
        loaded = [p for _, p in self.profiles(target, kind)]
        return merge_profiles(loaded) if loaded else None

    # -- metrics -------------------------------------------------------------
    def metric_names(self, target: str | None = None) -> list[str]:
        clauses, params = _where(target=target)
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT name FROM series" + clauses + " ORDER BY name", params)]

    def series(
        self, name: str | None = None, target: str | None = None, instance: str | None = None,
        **label_filter: str,
    ) -> list[Series]:
        """Series matching a metric name, target, instance and exact label values (each read once)."""
        key = (name, target, instance)
        found = self._series_memo.get(key)
        if found is None:
            found = self._series_memo[key] = self._read_series(name, target, instance)
        return [s for s in found if all(s.labels.get(k) == v for k, v in label_filter.items())]

    def _read_series(self, name: str | None, target: str | None, instance: str | None) -> list[Series]:
        clauses, params = _where(name=name, target=target, instance=instance)
        rows = self._db.execute(
            "SELECT id, target, instance, name, labels FROM series" + clauses + " ORDER BY id", params
        ).fetchall()
        out: list[Series] = []
        for series_id, tgt, inst, metric, labels_json in rows:
            points = self._db.execute(
                "SELECT ts, value FROM points WHERE series_id=? ORDER BY ts", (series_id,)
            ).fetchall()
            out.append(Series(metric, json.loads(labels_json), [(float(t), float(v)) for t, v in points], tgt, inst))
        return out

    # -- logs, objects, events --------------------------------------------------
    def log_count(self, target: str | None = None) -> int:
        clauses, params = _where(target=target)
        return int(self._db.execute("SELECT count(*) FROM logs" + clauses, params).fetchone()[0])

    def log_counts_by_object(self, target: str | None = None) -> list[tuple[str, int]]:
        """Lines per reconciled object key (keys of non-empty lines), counted in SQLite from the index."""
        clauses, params = _where(target=target)
        where = (clauses + " AND " if clauses else " WHERE ") + "object_key != ''"
        rows = self._db.execute(
            "SELECT object_key, count(*) FROM logs" + where + " GROUP BY object_key ORDER BY object_key", params
        ).fetchall()
        return [(str(key), int(n)) for key, n in rows]

    def logs(
        self,
        target: str | None = None,
        contains: str | Sequence[str] | None = None,
        object_keys: Sequence[str] | None = None,
        *,
        since: float | None = None,
        fields_contains: Sequence[str] | None = None,
    ) -> Iterator[LogRecord]:
        """Log records in time order, filtered in SQLite: by target, by message substrings (any of
        them), by reconciled object keys, by time (``ts > since``) and by substrings of the fields'
        JSON text (any of them), so a million-line bundle is not decoded in Python."""
        clauses, equal = _where(target=target)
        params: list[object] = list(equal)
        conditions = [clauses[len(" WHERE "):]] if clauses else []
        for column, texts in (("message", [contains] if isinstance(contains, str) else contains),
                              ("fields", fields_contains)):
            needles = list(texts or [])
            if needles:
                conditions.append("(" + " OR ".join(f"{column} LIKE ?" for _ in needles) + ")")
                params += [f"%{n}%" for n in needles]
        if since is not None:
            conditions.append("ts > ?")
            params.append(since)
        if object_keys is not None:
            conditions.append("object_key IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(object_keys)))
        where = (" WHERE " + " AND ".join(conditions)) if conditions else ""
        cursor = self._db.execute(
            "SELECT ts, target, instance, message, level, logger, controller, object_key, fields, raw FROM logs"
            + where + " ORDER BY ts, id",
            params,
        )
        decode = _decode_json
        for ts, tgt, inst, message, level, logger, controller, key, fields, raw in cursor:
            yield LogRecord(ts, tgt, inst, message, level, logger, controller, key, decode(fields), raw)

    def objects(self, resource: str | None = None) -> list[ObjectEvent]:
        clauses, params = _where(resource=resource)
        rows = self._db.execute(
            "SELECT ts, resource, namespace, name, event, uid, deletion_ts, finalizers, ready, target FROM objects"
            + clauses + " ORDER BY ts, id",
            params,
        ).fetchall()
        return [
            ObjectEvent(ts, res, ns, name, event, uid, dts, json.loads(fin), None if ready is None else bool(ready), tgt)
            for ts, res, ns, name, event, uid, dts, fin, ready, tgt in rows
        ]

    def events(self, kind: str | None = None, target: str | None = None) -> list[CaptureEvent]:
        clauses, params = _where(kind=kind, target=target)
        rows = self._db.execute(
            "SELECT ts, kind, message, target, instance, collector FROM events" + clauses + " ORDER BY ts, id",
            params,
        ).fetchall()
        return [CaptureEvent(*row) for row in rows]


_decode_json = json.JSONDecoder().decode  # json.loads without its per-call argument checks


def _where(**equal: str | None) -> tuple[str, tuple[str, ...]]:
    """A WHERE clause of column equalities for the arguments that are set."""
    used = [(k, v) for k, v in equal.items() if v is not None]
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{k}=?" for k, _ in used), tuple(v for _, v in used)
