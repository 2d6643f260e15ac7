"""profkit: profile and diagnose Kubernetes controllers during scale tests."""

__version__ = "0.1.0"
