"""The neutral data model shared by collectors, analyzers and renderers."""

from profkit.model.finding import SEVERITIES, Evidence, EvidenceSources, Finding, Severity, severity_rank
from profkit.model.profile import Frame, FrameOrigin, Language, Profile, ProfileKind, merge_profiles
from profkit.model.records import (CaptureEvent, CaptureEventKind, LogRecord, ObjectEvent, ObjectEventKind,
                                   ProfileFormat, ProfileRef, Target, TargetKind)
from profkit.model.series import Series

__all__ = [
    "SEVERITIES",
    "CaptureEvent",
    "CaptureEventKind",
    "Evidence",
    "EvidenceSources",
    "Finding",
    "Frame",
    "FrameOrigin",
    "Language",
    "LogRecord",
    "ObjectEvent",
    "ObjectEventKind",
    "Profile",
    "ProfileFormat",
    "ProfileKind",
    "ProfileRef",
    "Series",
    "Severity",
    "Target",
    "TargetKind",
    "merge_profiles",
    "severity_rank",
]
