"""The bundle: a capture on disk (SQLite + raw profiles), written as it goes and read offline."""

from profkit.bundle.reader import BundleView, open_bundle
from profkit.bundle.writer import BundleWriter

__all__ = ["BundleView", "BundleWriter", "open_bundle"]
