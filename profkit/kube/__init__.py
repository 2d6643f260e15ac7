"""Kubernetes access: the only package that imports `kubernetes`."""
