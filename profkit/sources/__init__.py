"""Collectors that run during a capture: pprof, py-spy, /metrics, usage, logs, objects."""
