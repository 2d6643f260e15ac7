"""Declarative dashboard definitions (YAML), shipped inside the wheel as ``profkit.dashboards``."""
