"""Frame classification: the controller's own code versus Go runtime, stdlib and third-party libraries.

Go frames are classified by import path (``crypto/rsa.GenerateKey`` -> ``crypto/rsa``):

* ``main`` is own code;
* a path whose first element has no dot (``runtime``, ``math/big``, ``net/http``,
  ``internal/...``, ``vendor/...``) is the Go standard library (``runtime`` for the runtime);
* a path under one of :data:`GO_LIBRARIES` (client-go, apimachinery, controller-runtime,
  prometheus, zap, x/net...) is a library;
* every other dotted path (``sigs.k8s.io/cluster-api/...``, ``github.com/metal3-io/...``) is
  own code. A provider that imports another controller's module as a library sees that module
  as its own code unless it names its own prefixes (``AnalyzeOptions.own_code``), which win.

Python frames are classified by file: ``<frozen ...>`` and files under ``lib/pythonX.Y/``
outside ``site-packages`` are the stdlib; files under ``site-packages``/``dist-packages`` are
libraries, unless their top-level package is the controller's own (named in ``own_code``, or
inferred: the first non-stdlib, non-library frame nearest the root of the stacks, so that a
controller installed with pip - profkit's own demo included - still counts as own code);
a console script in a ``bin/`` directory (``.venv/bin/kopf``, pip's entry-point launcher) is the
library it launches; everything else (a checkout, ``/app/...``) is own code.

Idle waiting is not CPU: a stack whose leaf is a wait (``selectors.EpollSelector.select``,
``threading.Condition.wait``, ``time.sleep``; Go's ``runtime.gopark``, ``runtime.futex``...) is a
thread parked, not work (:func:`is_idle_leaf`).

Python module names are the module as Python knows it: the file's path relative to the
process's ``sys.path`` entries when the capture recorded them, else relative to the
``site-packages``/stdlib directory it sits in, else the regular packages (``__init__.py``) the file
is in on this machine plus its stem (a script run as ``python operator.py`` or ``kopf run
operator.py`` is module ``operator``); never a package guessed from directory names.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence

from profkit.model import Frame, FrameOrigin, Profile

OWN: FrameOrigin = "own"
STDLIB: FrameOrigin = "stdlib"
RUNTIME: FrameOrigin = "runtime"
LIBRARY: FrameOrigin = "library"

GO_LIBRARIES: tuple[str, ...] = (
    "k8s.io/client-go", "k8s.io/apimachinery", "k8s.io/api", "k8s.io/klog", "k8s.io/utils",
    "k8s.io/kube-openapi", "k8s.io/apiextensions-apiserver", "k8s.io/apiserver", "k8s.io/component-base",
    "sigs.k8s.io/controller-runtime", "sigs.k8s.io/json", "sigs.k8s.io/structured-merge-diff",
    "sigs.k8s.io/yaml", "sigs.k8s.io/randfill",
    "github.com/prometheus/", "github.com/go-logr/", "go.uber.org/", "golang.org/x/", "google.golang.org/",
    "gopkg.in/", "github.com/gogo/protobuf", "github.com/golang/protobuf", "github.com/google/gnostic",
    "github.com/google/gnostic-models", "github.com/google/go-cmp", "github.com/google/uuid",
    "github.com/json-iterator/", "github.com/modern-go/", "github.com/emicklei/go-restful",
    "github.com/evanphx/json-patch", "github.com/spf13/", "go.opentelemetry.io/", "github.com/fxamacker/cbor",
    "github.com/munnerz/goautoneg", "github.com/pkg/errors", "github.com/davecgh/", "github.com/cespare/xxhash",
    "github.com/beorn7/perks", "github.com/blang/semver", "github.com/gobuffalo/flect", "github.com/onsi/",
    "github.com/klauspost/", "github.com/golang/groupcache", "github.com/gorilla/", "github.com/x448/float16",
    "github.com/mailru/easyjson", "github.com/go-openapi/", "github.com/josharian/intern",
    "github.com/stretchr/", "github.com/coreos/", "go.etcd.io/", "github.com/grpc-ecosystem/",
)

PYTHON_LIBRARIES: frozenset[str] = frozenset({
    "kopf", "kubernetes", "urllib3", "requests", "cryptography", "rsa", "pyasn1", "prometheus_client",
    "aiohttp", "yaml", "pydantic", "pydantic_core", "certifi", "charset_normalizer", "idna", "google",
    "websocket", "oauthlib", "requests_oauthlib", "dateutil", "six", "anyio", "httpx", "httpcore",
    "h11", "asyncio", "uvloop", "grpc", "psutil", "typer", "click", "rich", "numpy", "OpenSSL",
    "jsonschema", "attrs", "attr", "multidict", "yarl", "frozenlist", "aiosignal", "pykube",
})

# Leaf functions that wait rather than work: a stack ending in one is a parked thread, not CPU.
# Python: (module, function) of the stdlib's blocking calls; py-spy may still sample them (its
# idle detection is a heuristic). Go: the scheduler's park/sleep paths (a Go CPU profile samples running
# threads only, so these are the cost of going to sleep; select and timers that run are kept).
PYTHON_IDLE: frozenset[tuple[str, str]] = frozenset({
    ("selectors", "select"), ("select", "select"), ("select", "poll"), ("select", "epoll"),
    ("threading", "wait"), ("threading", "_wait_for_tstate_lock"), ("threading", "join"),
    ("time", "sleep"), ("asyncio.tasks", "sleep"), ("queue", "get"), ("socket", "accept"),
    ("socket", "recv"), ("socket", "recv_into"), ("socket", "readinto"), ("ssl", "read"), ("ssl", "recv_into"),
    ("multiprocessing.connection", "_recv"), ("concurrent.futures._base", "wait"),
})
PYTHON_IDLE_FUNCTIONS = frozenset({"sleep", "select", "poll", "epoll_wait", "wait", "acquire"})
GO_IDLE: frozenset[str] = frozenset({
    "runtime.gopark", "runtime.goparkunlock", "runtime.futex", "runtime.futexsleep", "runtime.notesleep",
    "runtime.notetsleep", "runtime.notetsleepg", "runtime.semasleep", "runtime.usleep", "runtime.epollwait",
    "runtime.netpoll", "runtime.netpollblock", "runtime.park_m", "runtime.mPark",
    "runtime.stopm", "syscall.EpollWait", "internal/runtime/syscall.EpollWait",
})

_GO_CLOSURE = re.compile(r"(\.func\d+|\.gowrap\d+|\.\d+)+$")
_PY_STDLIB = re.compile(r"(^<frozen |^<string>|/lib/python\d+(\.\d+)?/(?!.*(site|dist)-packages/))")
_PY_PACKAGES = re.compile(r"(?:site|dist)-packages/([A-Za-z0-9_]+)")
_PY_STDLIB_ROOT = re.compile(r"/lib/python\d+(?:\.\d+)?/([A-Za-z0-9_]+)")
_PY_CONSOLE_SCRIPT = re.compile(r"/bin/[^/]+$")
_PY_FROZEN = re.compile(r"^<frozen ([A-Za-z0-9_.]+)>$")
_PY_NAME_SUFFIX = re.compile(r"^(?P<name>.+?) \((?P<file>[^()]+?)(?::(?P<line>\d+))?\)$")


def go_package(function: str) -> str:
    """The import path of a Go function name: ``sigs.k8s.io/x/internal.(*M).Get`` -> ``sigs.k8s.io/x/internal``."""
    slash = function.rfind("/")
    dot = function.find(".", slash + 1)
    return function if dot < 0 else function[:dot]


def short_name(function: str) -> str:
    """The last path element of a function name, for tight displays: ``internal.(*M).Get``.

    Only the import path counts: a slash after a space, quote or parenthesis (py-spy's
    ``process 7:"kopf run http://…/healthz"``) is text, not a path.
    """
    stops = [i for i in (function.find(c) for c in '( "') if i >= 0]
    slash = function.rfind("/", 0, min(stops) if stops else len(function))
    return function[slash + 1:]


def base_name(function: str) -> str:
    """The bare function or method name: ``pkg.(*T).Method.func1`` -> ``Method``, ``Cls.meth`` -> ``meth``."""
    name = function.split(" (", 1)[0].removesuffix("-fm")
    name = _GO_CLOSURE.sub("", name)
    name = name[name.rfind("/") + 1:]
    return name.rsplit(".", 1)[-1] or function


def python_location(frame: Frame) -> tuple[str, str]:
    """``(function, file)`` of a py-spy frame, whether the file is a field or in the name."""
    match = _PY_NAME_SUFFIX.match(frame.name)
    if match and not frame.file:
        return match.group("name"), match.group("file")
    return (match.group("name") if match else frame.name), frame.file


def is_console_script(file: str) -> bool:
    """A pip entry-point launcher (``.venv/bin/kopf``): a file in a ``bin/`` directory, not a ``.py`` file."""
    path = file.replace("\\", "/")
    return bool(_PY_CONSOLE_SCRIPT.search(path)) and not path.endswith(".py")


def _dotted(relative: str) -> str:
    parts = [p for p in relative.split("/") if p and p != "."]
    if parts and parts[-1].endswith((".py", ".pyc")):
        parts[-1] = parts[-1].rsplit(".", 1)[0]
    if len(parts) > 1 and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def python_module(file: str, sys_path: Sequence[str] = ()) -> str:
    """The module Python knows a file as: ``.../site-packages/rsa/prime.py`` -> ``rsa.prime``.

    ``sys_path``: the process's import roots, when the capture recorded them (the longest root
    that holds the file wins). Otherwise the site-packages or stdlib directory the file sits in;
    otherwise the file name's stem (``/src/widgetop/operator.py`` -> ``operator``).
    """
    path = file.replace("\\", "/")
    frozen = _PY_FROZEN.match(path)
    if frozen:
        return frozen.group(1)
    roots = sorted((r.replace("\\", "/").rstrip("/") for r in sys_path if r), key=len, reverse=True)
    for root in roots:
        if path.startswith(root + "/"):
            return _dotted(path[len(root) + 1:])
    match = _PY_PACKAGES.search(path) or _PY_STDLIB_ROOT.search(path)
    if match:
        return _dotted(path[match.end(0) - len(match.group(1)):])
    name = path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if name.endswith((".py", ".pyc")) else name
    packages = _package_dirs(path.rsplit("/", 1)[0]) if "/" in path else ()
    return ".".join([*packages, stem]) if stem != "__init__" or not packages else ".".join(packages)


@lru_cache(maxsize=4096)
def _package_dirs(directory: str) -> tuple[str, ...]:
    """The regular packages a directory is in, read from this machine's files (``__init__.py`` up the tree).

    A checkout or editable install analysed where it was captured names ``profkit.demo.keys``; a
    path that is not here (a pod's ``/app``) or a script's own directory gives ``()``.
    """
    parts: list[str] = []
    while directory and os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, _, name = directory.rpartition("/")
        parts.append(name)
    return tuple(reversed(parts))


def python_top_package(file: str) -> str:
    """The top-level package of a site-packages file (``cryptography``), else ``""``."""
    match = _PY_PACKAGES.search(file.replace("\\", "/"))
    return match.group(1) if match else ""


def is_idle_leaf(frame: Frame, language: str) -> bool:
    """Whether a stack's leaf frame is a wait (event loop select, lock or condition wait, sleep, park)."""
    if language != "python":
        return frame.name in GO_IDLE
    function, file = python_location(frame)
    function = function.rsplit(".", 1)[-1]
    if not file:  # a native frame py-spy named without a file (``select``, ``epoll_wait``)
        return function in PYTHON_IDLE_FUNCTIONS
    path = file.replace("\\", "/")
    if not _PY_STDLIB.search(path):
        return False
    return (python_module(path), function) in PYTHON_IDLE


def classify_go(function: str, own_prefixes: Iterable[str] = ()) -> FrameOrigin:
    """own | stdlib | runtime | library for one Go function name."""
    package = go_package(function)
    if package == "main" or package.startswith("main."):
        return OWN
    if any(package == p or package.startswith(p.rstrip("/") + "/") for p in own_prefixes):
        return OWN
    first = package.split("/", 1)[0]
    if "." not in first:
        return RUNTIME if package == "runtime" or package.startswith(("runtime/", "internal/runtime")) else STDLIB
    if any(package == lib.rstrip("/") or package.startswith(lib if lib.endswith("/") else lib + "/")
           for lib in GO_LIBRARIES):
        return LIBRARY
    return OWN


def classify_python(frame: Frame, own_packages: Iterable[str] = ()) -> FrameOrigin:
    """own | stdlib | library for one py-spy frame."""
    _, file = python_location(frame)
    path = file.replace("\\", "/")
    if not path:
        return STDLIB if frame.name.startswith("<") else OWN
    if _PY_STDLIB.search(path):
        return STDLIB
    if is_console_script(path):
        return LIBRARY
    top = python_top_package(path)
    if top:
        return OWN if top in set(own_packages) else LIBRARY
    return OWN


@dataclass
class FrameClassifier:
    """Classifies the frames of one profile; results are cached per frame index."""

    profile: Profile
    own_code: tuple[str, ...] = ()
    _origins: list[FrameOrigin] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        own = set(self.own_code)
        if self.profile.language == "python":
            own |= _inferred_python_packages(self.profile)
            self._origins = [classify_python(f, own) for f in self.profile.frames]
        else:
            self._origins = [classify_go(f.name, own) for f in self.profile.frames]

    def origin(self, index: int) -> FrameOrigin:
        return self._origins[index]

    def is_own(self, index: int) -> bool:
        return self._origins[index] == OWN

    def is_idle(self, stack: Sequence[int]) -> bool:
        """Whether a stack is a thread waiting (its leaf is an idle wait): not CPU."""
        return bool(stack) and is_idle_leaf(self.profile.frames[stack[-1]], self.profile.language)


def _inferred_python_packages(profile: Profile) -> set[str]:
    """Top-level site-packages packages that sit first under the stdlib entry frames of the stacks.

    ``python -m pkg`` and thread entry frames are stdlib (runpy, threading); the first frame
    below them belongs to the program being profiled, unless it is a known framework (kopf).
    """
    found: set[str] = set()
    seen_roots: set[int] = set()
    for stack in profile.stacks:
        for index in stack:
            if index in seen_roots:
                break
            frame = profile.frames[index]
            _, file = python_location(frame)
            if _PY_STDLIB.search(file.replace("\\", "/")) or not file or is_console_script(file):
                continue
            seen_roots.add(index)
            top = python_top_package(file)
            if top and top not in PYTHON_LIBRARIES:
                found.add(top)
            break
    return found


def display_name(frame: Frame, language: str) -> str:
    """How a frame is named in findings: Go function names as is, Python as ``module.function``."""
    if language != "python":
        return frame.name
    function, file = python_location(frame)
    module = python_module(file) if file else ""
    return f"{module}.{function}" if module and not function.startswith(module + ".") else function
