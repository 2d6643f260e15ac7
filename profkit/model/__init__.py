"""The neutral data model shared by collectors, analyzers and renderers."""

from profkit.model.finding import SEVERITIES, Evidence, EvidenceSources, Finding, Severity, severity_rank
from profkit.model.profile import Frame, Profile, merge_profiles
from profkit.model.records import CaptureEvent, LogRecord, ObjectEvent, ProfileRef, Target
from profkit.model.series import Series

__all__ = [
    "SEVERITIES",
    "CaptureEvent",
    "Evidence",
    "EvidenceSources",
    "Finding",
    "Frame",
    "LogRecord",
    "ObjectEvent",
    "Profile",
    "ProfileRef",
    "Series",
    "Severity",
    "Target",
    "merge_profiles",
    "severity_rank",
]
