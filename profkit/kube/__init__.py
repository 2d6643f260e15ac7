"""Kubernetes access: the only package that imports `kubernetes` (lazily, so the CLI starts fast)."""
