"""A real Python process with known CPU behaviour: a busy thread, an idle thread, a sleeping phase.

Run as ``python cpu_workload.py PORT_FILE [--share-cpu]``. Cycles of 1.5 s busy work (in a worker
thread) and 1.5 s of sleep, while another thread waits on an Event forever. ``--share-cpu`` pins the
process to one CPU together with a busy child process (not Python-profiled), so the busy thread is
runnable for twice the CPU time it gets: the case where py-spy's samples and CPU time differ.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        total += sum(i * i for i in range(200))


def idle(stop: threading.Event) -> None:
    while not stop.wait(0.5):
        pass


def main() -> None:
    ready_file = sys.argv[1]
    hog: subprocess.Popen[bytes] | None = None
    if "--share-cpu" in sys.argv and hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        os.sched_setaffinity(hog.pid, {cpu})
    stop = threading.Event()
    threading.Thread(target=idle, args=(stop,), name="idle-waiter", daemon=True).start()
    with open(ready_file + ".part", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace(ready_file + ".part", ready_file)
    try:
        deadline = time.monotonic() + float(os.environ.get("WORKLOAD_SECONDS", "120"))
        while time.monotonic() < deadline:
            worker = threading.Thread(target=busy, args=(1.5,), name="busy-worker")
            worker.start()
            worker.join()
            time.sleep(1.5)
    finally:
        if hog is not None:
            hog.kill()


if __name__ == "__main__":
    main()
