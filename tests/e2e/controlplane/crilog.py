"""Run a command and write its stdout/stderr to a file in the CRI log format kwok serves.

Each line becomes ``<RFC3339Nano> stdout|stderr F <line>``. Run as a script:
``python crilog.py --out FILE -- CMD ARGS...``; it exits with the command's status
and forwards SIGTERM/SIGINT to it.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import IO


def rfc3339nano(ns: int | None = None) -> str:
    """UTC timestamp with nanoseconds, as the CRI log format wants."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def cri_line(stream: str, line: str) -> str:
    """One CRI log line (full, not partial)."""
    return f"{rfc3339nano()} {stream} F {line.rstrip(chr(10)).rstrip(chr(13))}\n"


def _copy(src: IO[bytes], stream: str, out: IO[str], lock: threading.Lock) -> None:
    for raw in iter(src.readline, b""):
        text = raw.decode("utf-8", "replace")
        with lock:
            out.write(cri_line(stream, text))
            out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd and args.cmd[0] == "--" else args.cmd
    if not cmd:
        parser.error("no command given")
    out = open(args.out, "a", encoding="utf-8")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def forward(signum: int, _frame: FrameType | None) -> None:
        proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    lock = threading.Lock()
    assert proc.stdout is not None and proc.stderr is not None
    threads = [
        threading.Thread(target=_copy, args=(proc.stdout, "stdout", out, lock), daemon=True),
        threading.Thread(target=_copy, args=(proc.stderr, "stderr", out, lock), daemon=True),
    ]
    for t in threads:
        t.start()
    code = proc.wait()
    for t in threads:
        t.join(timeout=5)
    out.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
