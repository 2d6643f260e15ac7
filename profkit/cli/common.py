"""What several commands share: the ``--fail-on`` severity option, output paths, the Prometheus client flags."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from profkit.errors import BadInput
from profkit.model import SEVERITIES

if TYPE_CHECKING:
    from profkit.sources.prometheus import PrometheusClient

SEVERITY_METAVAR = "|".join(SEVERITIES)


def check_severity(flag: str, value: Optional[str]) -> Optional[str]:
    """``value`` if it names a severity (or is None), else a one-line BadInput naming the flag."""
    if value is not None and value not in SEVERITIES:
        raise BadInput(f"{flag} {value!r}: use {', '.join(SEVERITIES[:-1])} or {SEVERITIES[-1]}")
    return value


def output_file(path: Path, flag: str) -> Path:
    """A file the command may write: not a directory, in a directory that exists."""
    if path.exists() and path.is_dir():
        raise BadInput(f"{flag} {path}: is a directory")
    if not path.parent.is_dir():
        raise BadInput(f"{flag} {path}: directory {path.parent} does not exist")
    return path


def prometheus_client(url: str, token: Optional[str], token_file: Optional[Path], user: Optional[str],
                      password: Optional[str], ca_file: Optional[Path], flag_prefix: str = "--") -> PrometheusClient:
    """The client ``import prometheus`` and ``capture --prometheus`` build from their auth flags (named
    ``--token-file`` ... there, ``--prometheus-token-file`` ... here: ``flag_prefix``); one-line errors."""
    from profkit.sources.prometheus import Auth, PrometheusClient

    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise BadInput(f"{flag_prefix}token-file {token_file}: {exc.strerror or exc}") from None
    if ca_file is not None and not ca_file.is_file():
        raise BadInput(f"{flag_prefix}ca-file {ca_file}: no such file")
    return PrometheusClient(url, Auth(token=token, user=user, password=password, ca_file=ca_file))
