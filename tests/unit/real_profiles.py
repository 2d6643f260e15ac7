"""Real profiles for the format tests: recorded fixtures when present, else recorded here from real programs.

Go profiles come from a tiny program (RSA key generation for CPU, named allocations for heap,
parked goroutines) built with ``go build`` in a temp dir; py-spy profiles from ``py-spy record``
of a small threaded Python program. Tests that need them skip when the tool is missing.
"""

from __future__ import annotations

import atexit
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FIXTURE_NAMES = {"cpu": "go-cpu-keygen.pb.gz", "heap": "go-heap.pb.gz", "goroutine": "go-goroutine.pb.gz"}

GO_PROGRAM = r"""
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var keep [][]byte

//go:noinline
func allocateBuffers(n int) {
	for i := 0; i < n; i++ {
		keep = append(keep, make([]byte, 64<<10))
	}
}

//go:noinline
func reconcileWithKeys(deadline time.Time) int {
	n := 0
	for time.Now().Before(deadline) {
		if _, err := rsa.GenerateKey(rand.Reader, 1024); err != nil {
			panic(err)
		}
		n++
	}
	return n
}

func parked(ch chan struct{}, wg *sync.WaitGroup) {
	wg.Done()
	<-ch
}

func write(dir, name string, fn func(*os.File) error) {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		panic(err)
	}
	if err := fn(f); err != nil {
		panic(err)
	}
	f.Close()
}

func main() {
	dir := flag.String("dir", ".", "output directory")
	seconds := flag.Float64("seconds", 2, "CPU profile length")
	flag.Parse()
	runtime.MemProfileRate = 4096
	write(*dir, "cpu.pb.gz", func(f *os.File) error {
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		reconcileWithKeys(time.Now().Add(time.Duration(*seconds * float64(time.Second))))
		pprof.StopCPUProfile()
		return nil
	})
	allocateBuffers(64)
	runtime.GC()
	write(*dir, "heap.pb.gz", func(f *os.File) error { return pprof.Lookup("heap").WriteTo(f, 0) })
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 25; i++ {
		wg.Add(1)
		go parked(ch, &wg)
	}
	wg.Wait()
	write(*dir, "goroutine.pb.gz", func(f *os.File) error { return pprof.Lookup("goroutine").WriteTo(f, 0) })
	close(ch)
}
"""

PYTHON_PROGRAM = r"""
import hashlib, threading, time

def hash_objects(seconds):
    end = time.time() + seconds
    while time.time() < end:
        hashlib.sha256(b"x" * 4096).hexdigest()
        sum(i * i for i in range(300))

workers = [threading.Thread(target=hash_objects, args=(2,), name=f"worker-{i}") for i in range(2)]
for w in workers:
    w.start()
hash_objects(2)
for w in workers:
    w.join()
"""


def _scratch() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="profkit-real-profiles-"))
    atexit.register(shutil.rmtree, directory, True)
    return directory


@lru_cache(maxsize=1)
def _recorded_go() -> dict[str, Path]:
    go = shutil.which("go")
    if go is None:
        pytest.skip("needs the Go toolchain to record real pprof profiles")
    work = _scratch()
    (work / "main.go").write_text(GO_PROGRAM)
    (work / "go.mod").write_text("module profkit.test/recordprofiles\n\ngo 1.21\n")
    subprocess.run([go, "build", "-o", "recordprofiles", "."], cwd=work, check=True, capture_output=True)
    subprocess.run([str(work / "recordprofiles"), "-dir", str(work)], check=True, capture_output=True)
    return {kind: work / f"{kind}.pb.gz" for kind in FIXTURE_NAMES}


def go_profile(kind: str) -> Path:
    """A real Go pprof of ``kind`` (cpu, heap, goroutine)."""
    fixture = FIXTURES / FIXTURE_NAMES[kind]
    if fixture.is_file():
        return fixture
    return _recorded_go()[kind]


@lru_cache(maxsize=1)
def pyspy_profile() -> Path:
    """A real py-spy speedscope profile (one profile per thread)."""
    fixture = FIXTURES / "pyspy-keygen.speedscope.json"
    if fixture.is_file():
        return fixture
    pyspy = shutil.which("py-spy")
    if pyspy is None:
        pytest.skip("needs py-spy to record a real speedscope profile")
    work = _scratch()
    (work / "hashing.py").write_text(PYTHON_PROGRAM)
    out = work / "pyspy.speedscope.json"
    done = subprocess.run(
        [pyspy, "record", "-o", str(out), "-f", "speedscope", "--rate", "100", "--", sys.executable,
         str(work / "hashing.py")],
        capture_output=True, text=True, timeout=120,
    )
    if done.returncode != 0 or not out.is_file():
        pytest.skip(f"py-spy could not record here: {done.stderr.strip()[-200:]}")
    return out


_TOP_ROW = re.compile(
    r"^\s*(-?\d+)(?:ns|B)?\s+[\d.]+%\s+[\d.]+%\s+(-?\d+)(?:ns|B)?\s+[\d.]+%\s+(.+?)(?: \((?:partial-)?inline\))?$"
)


def go_tool_top(path: Path, unit: str, nodes: int = 10, sample_index: str | None = None) -> tuple[int, list[tuple[str, int, int]]]:
    """``go tool pprof -top`` in exact ``unit`` (ns, B): (total, [(function, flat, cum), ...])."""
    command = ["go", "tool", "pprof", "-top", f"-nodecount={nodes}", "-nodefraction=0", "-edgefraction=0",
               f"-unit={unit}"]
    if sample_index:
        command.append(f"-sample_index={sample_index}")
    text = subprocess.run([*command, str(path)], check=True, capture_output=True, text=True).stdout
    total = re.search(r"of (-?\d+)\w* total", text)
    assert total, text
    rows = [(m[3], int(m[1]), int(m[2])) for m in map(_TOP_ROW.match, text.splitlines()) if m]
    return int(total[1]), rows
