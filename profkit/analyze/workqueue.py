"""Workqueue series of one controller, whichever label the controller-runtime version uses (a helper module)."""

from __future__ import annotations

from profkit.analyze.metrics_math import series_of
from profkit.bundle.reader import BundleView
from profkit.model import Series


def queue_series(view: BundleView, metric: str, target: str, controller: str) -> list[Series]:
    """Workqueue series of one controller: label ``name`` (all versions) or ``controller`` (newer ones)."""
    return (series_of(view, metric, target, name=controller)
            or series_of(view, metric, target, controller=controller))
