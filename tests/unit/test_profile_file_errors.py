"""Damaged or wrong profile files give one-line BadInput errors that name the file and the problem."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import pytest

from profkit.errors import BadInput
from profkit.formats import load_profile_file, sniff_format
from real_profiles import go_profile

# What a proxy or an ingress answers instead of a profile (nginx's stock 502 page).
NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def error_for(path: Path) -> str:
    with pytest.raises(BadInput) as caught:
        load_profile_file(path)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert str(path) in message, "errors name the file"
    return message


def test_truncated_gzip_is_reported_as_truncated(tmp_path: Path) -> None:
    data = go_profile("cpu").read_bytes()
    path = tmp_path / "cut.pb.gz"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated gzip" in error_for(path)


def test_corrupted_gzip_is_reported_as_damaged(tmp_path: Path) -> None:
    data = bytearray(go_profile("cpu").read_bytes())
    data[len(data) // 2] ^= 0xFF
    data[len(data) // 2 + 1] ^= 0xFF
    path = tmp_path / "flipped.pb.gz"
    path.write_bytes(bytes(data))
    message = error_for(path)
    assert "gzip" in message or "pprof" in message


def test_binary_that_is_neither_gzip_nor_protobuf(tmp_path: Path) -> None:
    path = tmp_path / "python.bin"
    path.write_bytes(Path(sys.executable).resolve().read_bytes()[:4096])  # an ELF header
    assert "not gzip and not a pprof protobuf" in error_for(path)


@pytest.mark.parametrize("compress", [False, True])
def test_html_error_page_instead_of_a_profile(tmp_path: Path, compress: bool) -> None:
    path = tmp_path / "cpu.pb.gz"
    path.write_bytes(gzip.compress(NGINX_502) if compress else NGINX_502)
    message = error_for(path)
    assert "got an HTML page, not a profile" in message
    assert "502 Bad Gateway" not in message or len(message) < 200


def test_plain_text_answer_is_quoted(tmp_path: Path) -> None:
    path = tmp_path / "cpu.pb.gz"
    path.write_bytes(b"Could not enable CPU profiling: cpu profiling already in use\n")
    assert "got text, not a profile: 'Could not enable CPU profiling" in error_for(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pb.gz"
    path.write_bytes(b"")
    assert "empty" in error_for(path)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in error_for(tmp_path / "nope.pb.gz")
    assert "is a directory" in error_for(tmp_path)


def test_json_that_is_not_speedscope(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"traceEvents": []}')
    assert "not a speedscope profile" in error_for(path)


def test_real_profiles_are_sniffed_as_pprof() -> None:
    raw = gzip.decompress(go_profile("heap").read_bytes())
    assert sniff_format(raw) == "pprof"
    assert sniff_format(b"main;work 3\nmain;idle 1\n") == "folded"
    assert sniff_format(b'{"$schema": "https://www.speedscope.app/file-format-schema.json"}') == "speedscope"
