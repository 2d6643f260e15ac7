"""Kubernetes access: the only package that imports `kubernetes` (lazily, so the CLI starts fast)."""

from __future__ import annotations

from typing import Any


def deployment_targets(*args: Any, **kwargs: Any) -> list[Any]:
    """The capture hook for ``--deployment``: see profkit.kube.targets.deployment_targets."""
    from profkit.kube.targets import deployment_targets as build

    return build(*args, **kwargs)
