"""The bundle's SQLite schema and its version."""

from __future__ import annotations

SCHEMA_VERSION = 1
DB_NAME = "profkit.db"
PROFILES_DIR = "profiles"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS targets (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, spec TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS instances (
    target TEXT NOT NULL, instance TEXT NOT NULL, first_seen REAL NOT NULL,
    last_seen REAL, info TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (target, instance)
);
CREATE TABLE IF NOT EXISTS profiles (
    id INTEGER PRIMARY KEY, target TEXT NOT NULL, instance TEXT NOT NULL, kind TEXT NOT NULL,
    format TEXT NOT NULL, path TEXT NOT NULL, start REAL NOT NULL, duration REAL NOT NULL,
    size INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, target TEXT NOT NULL, instance TEXT NOT NULL, name TEXT NOT NULL,
    labels TEXT NOT NULL, UNIQUE (target, instance, name, labels)
);
CREATE TABLE IF NOT EXISTS points (series_id INTEGER NOT NULL, ts REAL NOT NULL, value REAL NOT NULL);
-- Covering index: a series is read from the index alone, without scattered table pages.
CREATE INDEX IF NOT EXISTS points_by_series_covering ON points (series_id, ts, value);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY, target TEXT NOT NULL, instance TEXT NOT NULL, ts REAL NOT NULL,
    level TEXT NOT NULL DEFAULT '', logger TEXT NOT NULL DEFAULT '', controller TEXT NOT NULL DEFAULT '',
    object_key TEXT NOT NULL DEFAULT '', message TEXT NOT NULL, fields TEXT NOT NULL DEFAULT '{}',
    raw TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS logs_by_object ON logs (object_key);
CREATE TABLE IF NOT EXISTS objects (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, target TEXT NOT NULL DEFAULT '', resource TEXT NOT NULL,
    namespace TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL DEFAULT '', event TEXT NOT NULL,
    deletion_ts REAL, finalizers TEXT NOT NULL DEFAULT '[]', ready INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '', instance TEXT NOT NULL DEFAULT '', collector TEXT NOT NULL DEFAULT ''
);
"""
