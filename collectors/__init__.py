"""Declarative collector definitions (YAML), shipped inside the wheel as ``profkit.collectors``."""
