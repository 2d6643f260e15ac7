"""py-spy for Python controllers in pods: exec into the container, or a node-agent pod profkit always removes."""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import shlex
import signal
import threading
import time
import uuid
from dataclasses import dataclass
from types import FrameType
from typing import Any, Callable, cast

from profkit.errors import BadInput, ProfkitError
from profkit.kube.errors import Forbidden, NotFound, translate

log = logging.getLogger(__name__)

#: Set this in a container's environment to profile a process other than its PID 1.
PID_ENV = "PROFKIT_PYSPY_PID"
#: Default node-agent image: has sh and pip; the agent installs py-spy when the image lacks it.
DEFAULT_AGENT_IMAGE = "python:3.12-slim"
AGENT_CONTAINER = "py-spy"
AGENT_COMPONENT = "pyspy-agent"
MANAGED_BY = "profkit"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_CAPTURE = "profkit.dev/capture"
LABEL_TARGET_POD = "profkit.dev/target-pod"
#: ``kubectl delete pod -l`` selector that finds every agent profkit ever left behind.
AGENT_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY},{LABEL_COMPONENT}={AGENT_COMPONENT}"


class PySpyError(ProfkitError):
    """One py-spy window failed (pod gone, py-spy error); the capture records it and goes on."""


class PySpyNotAllowed(BadInput):
    """Neither exec into the pod nor a node agent is possible: a one-line error, exit code 2."""


@dataclass(frozen=True)
class PySpyOptions:
    """How to run py-spy: sampling rate, flags, and the node agent's image and namespace."""

    rate: int = 100
    subprocesses: bool = True  # follows a python child of tini/sh wrappers, harmless otherwise
    # As profkit.sources.pyspy measured: blocking mode counts threads parked in waits as CPU.
    nonblocking: bool = True
    agent: bool = True
    agent_image: str = DEFAULT_AGENT_IMAGE
    agent_namespace: str | None = None  # default: the target pod's namespace
    agent_ready_timeout: float = 180.0
    exec_grace: float = 30.0  # added to the window for the exec's own timeout


#: Lines the record script prints before the JSON: CPU snapshots, then the marker.
CPU_LINE = "profkit-cpu"
STAT_LINE = "profkit-stat"
SPEEDSCOPE_MARK = "profkit-speedscope"


# -- command building (pure) ---------------------------------------------------------------------
def record_args(pid: str, seconds: float, output: str, options: PySpyOptions = PySpyOptions()) -> list[str]:
    """``py-spy record`` arguments for one window (py-spy takes whole seconds only)."""
    args = ["py-spy", "record", "--pid", pid, "--format", "speedscope", "--rate", str(options.rate),
            "--duration", str(max(1, round(seconds))), "-o", output]
    if options.subprocesses:
        args.append("--subprocesses")
    if options.nonblocking:
        args.append("--nonblocking")
    return args


def _record_script(pid_expr: str, seconds: float, options: PySpyOptions) -> str:
    # py-spy prints its progress lines on stdout, so "-o /dev/stdout" would interleave them into the
    # JSON: record to a temporary file, send py-spy's own output to stderr, then cat the file.
    # A line on stdin, or stdin closing (profkit stopped or died), sends py-spy SIGINT: it writes the
    # samples it has and the window ends early; py-spy never outlives the exec.
    args = " ".join(shlex.quote(a) for a in record_args("PIDMARK", seconds, "OUTMARK", options))
    args = args.replace("PIDMARK", '"$pk_pid"').replace("OUTMARK", '"$out"')
    # Before and after py-spy, the process's and its threads' /proc stat lines (utime+stime) go to
    # stdout, so the reader can scale the window's samples to CPU seconds (profkit.bundle.cpu_time);
    # shell builtins only (read, echo), getconf when present. The speedscope JSON follows a marker line.
    return (
        f'pk_pid="{pid_expr}"; pk_proc="${{proc:-/proc}}"\n'
        'pk_tck=$(getconf CLK_TCK 2>/dev/null) || pk_tck=100; [ -n "$pk_tck" ] || pk_tck=100\n'
        "pk_cpu() {\n"
        '  up=""; { read -r up _ < "$pk_proc/uptime"; } 2>/dev/null\n'
        f'  echo "{CPU_LINE} $1 $pk_tck $up"\n'
        '  for f in "$pk_proc/$pk_pid/stat" "$pk_proc/$pk_pid"/task/*/stat; do\n'
        f'    line=""; {{ read -r line < "$f"; }} 2>/dev/null && echo "{STAT_LINE} $1 $line"\n'
        "  done\n"
        "}\n"
        'out=$(mktemp 2>/dev/null) || out="/tmp/profkit-pyspy-$$.json"\n'
        "trap 'rm -f \"$out\"' EXIT\n"
        "exec 3<&0\n"
        "pk_cpu start\n"
        f"{args} </dev/null 1>&2 &\n"
        "sp=$!\n"
        '{ read -r _ <&3; kill -INT "$sp" 2>/dev/null; } &\n'
        "rd=$!\n"
        'wait "$sp"; rc=$?\n'
        "pk_cpu end\n"
        'kill "$rd" 2>/dev/null\n'
        '[ -s "$out" ] || exit $(( rc ? rc : 1 ))\n'
        f"echo {SPEEDSCOPE_MARK}\n"
        'cat "$out"\n'
    )


@dataclass(frozen=True)
class CpuSnapshot:
    """utime+stime of a process and of each of its threads, read from /proc in the pod at one edge."""

    uptime: float | None  # the node's /proc/uptime when read (None: unreadable)
    process_seconds: float | None
    thread_seconds: dict[str, float]


def parse_stat_seconds(line: str, ticks_per_second: float) -> tuple[str, float] | None:
    """(pid or tid, utime+stime in seconds) from one ``/proc/PID/stat`` line; None when malformed."""
    head, sep, rest = line.rpartition(")")
    fields = rest.split()
    if not sep or "(" not in head or len(fields) < 13 or ticks_per_second <= 0:
        return None
    try:
        ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5): utime, stime
    except ValueError:
        return None
    return head.split("(", 1)[0].strip(), ticks / ticks_per_second


def split_record_output(stdout: bytes) -> tuple[bytes, dict[str, CpuSnapshot]]:
    """The speedscope JSON and the CPU snapshots (by edge, ``start``/``end``) of one record exec."""
    marker = f"{SPEEDSCOPE_MARK}\n".encode()
    head, sep, data = stdout.partition(marker)
    if not sep:
        return stdout.strip(), {}
    edges: dict[str, list[str]] = {}
    ticks: dict[str, float] = {}
    uptimes: dict[str, float | None] = {}
    for raw in head.decode("utf-8", "replace").splitlines():
        kind, _, rest = raw.partition(" ")
        edge, _, rest = rest.partition(" ")
        if kind == CPU_LINE and edge in ("start", "end"):
            parts = rest.split()
            try:
                ticks[edge] = float(parts[0]) if parts else 100.0
                uptimes[edge] = float(parts[1]) if len(parts) > 1 else None
            except ValueError:
                ticks[edge], uptimes[edge] = 100.0, None
            edges[edge] = []
        elif kind == STAT_LINE and edge in edges:
            edges[edge].append(rest)
    snapshots = {}
    for edge, lines in edges.items():
        parsed = [parse_stat_seconds(line, ticks[edge]) for line in lines]
        values = [p for p in parsed if p is not None]
        if not values:
            continue
        # The first line is /proc/PID/stat (the whole process), the rest /proc/PID/task/TID/stat.
        snapshots[edge] = CpuSnapshot(uptimes[edge], values[0][1] if parsed[0] is not None else None,
                                      {tid: seconds for tid, seconds in values[1:]})
    return data.strip(), snapshots


def exec_probe_command() -> list[str]:
    """Prints ``ok <pid>`` when py-spy is on the container's PATH, else ``missing``."""
    return ["sh", "-c", f'if command -v py-spy >/dev/null 2>&1; then echo "ok ${{{PID_ENV}:-1}}"; '
                        'else echo missing; fi']


def exec_record_command(seconds: float, options: PySpyOptions = PySpyOptions()) -> list[str]:
    """Run inside the target container: profile ``$PROFKIT_PYSPY_PID`` (default 1), speedscope on stdout."""
    return ["sh", "-c", _record_script(f"${{{PID_ENV}:-1}}", seconds, options)]


def agent_find_script(container_id: str) -> str:
    """sh that sets ``$pid`` to the container's main process, seen from a hostPID pod (``$PROFKIT_PROC``
    overrides /proc for tests): of the processes in the container's cgroup whose parent is not (the
    container's init, or a ``kubectl exec`` session), the one that started first."""
    if not re.fullmatch(r"[0-9a-f]{12,128}", container_id):
        raise PySpyError(f"unexpected container id {container_id!r}")
    return (
        f"cid={container_id}\n"
        'proc="${PROFKIT_PROC:-/proc}"; pid=""; best=""\n'
        'for d in "$proc"/[0-9]*; do\n'
        '  grep -q "$cid" "$d/cgroup" 2>/dev/null || continue\n'
        '  pp=$(sed -n "s/^PPid:[[:space:]]*//p" "$d/status" 2>/dev/null)\n'
        '  if [ -n "$pp" ] && grep -q "$cid" "$proc/$pp/cgroup" 2>/dev/null; then continue; fi\n'
        '  st=$(sed "s/.*) //" "$d/stat" 2>/dev/null | cut -d" " -f20)\n'
        '  if [ -z "$best" ] || [ "${st:-0}" -lt "$best" ]; then best=${st:-0}; pid=${d##*/}; fi\n'
        "done\n"
        '[ -n "$pid" ] || { echo "Error: no process of container $cid on this node" >&2; exit 4; }\n'
    )


def agent_record_command(container_id: str, seconds: float, options: PySpyOptions = PySpyOptions()) -> list[str]:
    """Run inside the node agent (hostPID): find the container's main process by its cgroup, then profile it."""
    return ["sh", "-c", agent_find_script(container_id) + _record_script("$pid", seconds, options)]


AGENT_ENTRYPOINT = (
    "command -v py-spy >/dev/null 2>&1 || pip install --no-cache-dir --quiet 'py-spy>=0.3.14' "
    "|| { echo 'profkit: py-spy is not in the image and pip install failed; use --pyspy-image' >&2; exit 3; }\n"
    "exec sleep 2147483647\n"
)


def container_id(pod: dict[str, Any], container: str | None = None) -> str:
    """The runtime id of a container (``containerd://<id>`` → ``<id>``) from a pod's status."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for status in statuses:
        if container is None or status.get("name") == container:
            raw = str(status.get("containerID") or "")
            if raw:
                return raw.split("://", 1)[-1]
    name = (pod.get("metadata") or {}).get("name", "?")
    raise PySpyError(f"pod {name}: no running container {container or ''} with a container id".replace("  ", " "))


def agent_pod_manifest(
    target_namespace: str, target_pod: str, node: str, *, image: str = DEFAULT_AGENT_IMAGE,
    namespace: str | None = None, capture_id: str = "", deadline_seconds: int = 6 * 3600,
) -> dict[str, Any]:
    """The node agent: hostPID and SYS_PTRACE on the target's node, labelled for cleanup, with a hard deadline."""
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_COMPONENT: AGENT_COMPONENT,
        LABEL_CAPTURE: capture_id or "none",
        LABEL_TARGET_POD: target_pod[:63].rstrip("-_."),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "profkit-pyspy-",
            "namespace": namespace or target_namespace,
            "labels": labels,
            "annotations": {"profkit.dev/target": f"{target_namespace}/{target_pod}"},
        },
        "spec": {
            "nodeName": node,
            "hostPID": True,
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            # Last resort if profkit is SIGKILLed: the kubelet stops the agent after this long.
            "activeDeadlineSeconds": deadline_seconds,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": AGENT_CONTAINER,
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", AGENT_ENTRYPOINT],
                "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_PTRACE"]}},
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
            }],
        },
    }


def first_error_line(stderr: str) -> str:
    """py-spy's ``Error: ...`` line without its Rust backtrace (or the last non-empty line)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line[len("Error:"):].strip()
    useful = [ln for ln in lines if not ln.startswith("py-spy>")]
    return useful[-1] if useful else "no output"


# -- exec over the API server ---------------------------------------------------------------------
@dataclass
class ExecResult:
    stdout: bytes
    stderr: str
    exit_code: int | None  # None: the command did not run (e.g. sh missing); see error
    error: str = ""


def _parse_error_channel(raw: Any) -> tuple[int | None, str]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    if not text.strip():
        return 0, ""
    try:
        status = json.loads(text)
    except ValueError:
        return None, text.strip()
    if status.get("status") == "Success":
        return 0, ""
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", "1")), str(status.get("message", ""))
    return None, str(status.get("message", "exec failed"))


def run_exec(api: Any, namespace: str, pod: str, container: str | None, command: list[str],
             timeout: float, stop: threading.Event | None = None, stdin: bool = False) -> ExecResult:
    """Run ``command`` in a container through ``pods/exec``; stdout as bytes. ``api`` is an ApiClient.

    With ``stdin``, the command's stdin stays open for the exec's life; once ``stop`` is set a line
    ``stop`` is written to it (the record script then ends py-spy's window early).
    """
    from kubernetes import client
    from kubernetes.stream import stream

    # kubernetes.stream swaps ApiClient.call_api while it connects: use a client of our own.
    own: Any = client.ApiClient(api.configuration)
    core: Any = client.CoreV1Api(own)
    kwargs: dict[str, Any] = {"command": command, "stdin": stdin, "stdout": True, "stderr": True, "tty": False,
                              "_preload_content": False, "binary": True}
    if container:
        kwargs["container"] = container
    ws = stream(core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
    try:
        deadline, stopped = time.monotonic() + timeout, False
        while ws.is_open():
            if stdin and stop is not None and stop.is_set() and not stopped:
                ws.write_channel(0, b"stop\n")
                stopped, deadline = True, min(deadline, time.monotonic() + 15.0)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PySpyError(f"exec in {namespace}/{pod} did not finish within {timeout:.0f}s")
            ws.update(timeout=min(0.25, remaining))
        stdout = ws.read_channel(1) or b""
        stderr = ws.read_channel(2) or b""
        code, error = _parse_error_channel(ws.read_channel(3))
    finally:
        ws.close()
        own.close()
    out = stdout if isinstance(stdout, bytes) else str(stdout).encode()
    err = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else str(stderr)
    return ExecResult(out, err, code, error)


# -- agent registry: every live agent is deleted at exit and on SIGTERM/SIGHUP/SIGINT ---------------
_LIVE: dict[tuple[str, str], Callable[[], None]] = {}
_LIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def live_agents() -> list[tuple[str, str]]:
    """(namespace, name) of the agents this process created and has not deleted yet."""
    with _LIVE_LOCK:
        return sorted(_LIVE)


def cleanup_agents(timeout: float = 15.0) -> int:
    """Delete every live agent (in a helper thread, so it is safe from a signal handler); return the count."""
    with _LIVE_LOCK:
        deleters = list(_LIVE.values())
    if not deleters:
        return 0

    def run() -> None:
        for delete in deleters:
            try:
                delete()
            except Exception as exc:  # noqa: BLE001 - best effort; report and go on
                log.warning("could not delete py-spy agent: %s", exc)

    worker = threading.Thread(target=run, name="profkit-pyspy-cleanup", daemon=True)
    worker.start()
    worker.join(timeout)
    return len(deleters)


def _install_handlers() -> None:
    """atexit always; signal handlers only from the main thread, chaining to the previous handler."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(cleanup_agents)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            cleanup_agents()
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_IGN:
                return
            else:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)

        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main interpreter thread after all
            return


class NodeAgent:
    """One agent pod on one node; ``delete()`` is idempotent and also runs at exit."""

    def __init__(self, api: Any, manifest: dict[str, Any]) -> None:
        from kubernetes import client

        self._api = api
        self._cleanup_api = client.ApiClient(api.configuration)  # independent pool for deletion
        self.namespace = str(manifest["metadata"]["namespace"])
        core: Any = client.CoreV1Api(api)
        created = core.create_namespaced_pod(self.namespace, manifest)
        self.name = str(created.metadata.name)
        with _LIVE_LOCK:
            _LIVE[(self.namespace, self.name)] = self.delete
        _install_handlers()
        log.info("created py-spy node agent %s/%s on %s", self.namespace, self.name, manifest["spec"]["nodeName"])

    def delete(self) -> None:
        from kubernetes import client

        with _LIVE_LOCK:
            if _LIVE.pop((self.namespace, self.name), None) is None:
                return
        try:
            client.CoreV1Api(self._cleanup_api).delete_namespaced_pod(
                self.name, self.namespace, grace_period_seconds=0, propagation_policy="Background",
                _request_timeout=10)
        except Exception as exc:  # noqa: BLE001
            if not isinstance(translate(exc, verb="delete", resource="pods", namespace=self.namespace), NotFound):
                with _LIVE_LOCK:
                    _LIVE[(self.namespace, self.name)] = self.delete  # try again at exit
                raise
        log.info("deleted py-spy node agent %s/%s", self.namespace, self.name)

    def wait_ready(self, timeout: float) -> None:
        """Running, and py-spy on its PATH (the entrypoint may pip-install it first)."""
        from kubernetes import client

        core = client.CoreV1Api(self._api)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = core.read_namespaced_pod(self.name, self.namespace)
            phase = pod.status.phase if pod.status else None
            if phase in ("Failed", "Succeeded"):
                raise PySpyError(f"py-spy node agent {self.namespace}/{self.name} stopped ({phase}): "
                                 f"{self._last_log_line(core)}")
            if phase == "Running":
                probe = run_exec(self._api, self.namespace, self.name, AGENT_CONTAINER, exec_probe_command(), 30)
                if probe.stdout.decode(errors="replace").startswith("ok"):
                    return
            time.sleep(1.0)
        raise PySpyError(f"py-spy node agent {self.namespace}/{self.name} not ready within {timeout:.0f}s")

    def _last_log_line(self, core: Any) -> str:
        try:
            text = str(core.read_namespaced_pod_log(self.name, self.namespace, tail_lines=5))
        except Exception:  # noqa: BLE001
            return "no log"
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return lines[-1] if lines else "no log"


def _timed_snapshots(snapshots: dict[str, CpuSnapshot], start: float, ended: float
                     ) -> list[tuple[float, CpuSnapshot]]:
    """Local times for the two edges: the start edge at the exec's start (as the local collector's
    snapshot precedes its window), the end edge that many node-uptime seconds later (else at the
    exec's end), so the span between them is the one the kernel measured."""
    first, last = snapshots.get("start"), snapshots.get("end")
    if first is None or last is None:
        return []
    span = (last.uptime - first.uptime) if first.uptime is not None and last.uptime is not None else -1.0
    end_at = start + span if 0 <= span <= ended - start + 1.0 else ended
    return [(start, first), (end_at, last)]


class PodPySpy:
    """py-spy for one container of one pod: ``record(seconds)`` returns one speedscope JSON window.

    The first call decides how: exec into the container when py-spy is on its PATH (profiling
    ``$PROFKIT_PYSPY_PID``, default PID 1), else a node agent that is deleted by ``close()``, at
    exit, and on SIGTERM/SIGHUP/SIGINT.
    """

    def __init__(self, api: Any, namespace: str, pod: str, container: str | None = None,
                 options: PySpyOptions = PySpyOptions(), capture_id: str | None = None) -> None:
        self.api, self.namespace, self.pod, self.container = api, namespace, pod, container
        self.options = options
        self.capture_id = capture_id or uuid.uuid4().hex[:12]
        self.mode: str | None = None  # "exec" or "agent" once prepared
        self.pid: str | None = None
        self.agent: NodeAgent | None = None
        self._container_id = ""
        self._lock = threading.Lock()
        self.last_window: tuple[float, float] = (0.0, 0.0)
        #: (local time, snapshot) at the last window's start and end edges; empty when unreadable.
        self.last_cpu: list[tuple[float, CpuSnapshot]] = []

    def __enter__(self) -> PodPySpy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.pod}" + (f" container {self.container}" if self.container else "")

    def prepare(self) -> str:
        """Choose exec or a node agent; returns the mode. Raises PySpyNotAllowed when neither is allowed."""
        with self._lock:
            if self.mode:
                return self.mode
            exec_forbidden = False
            try:
                probe = run_exec(self.api, self.namespace, self.pod, self.container, exec_probe_command(), 30)
            except PySpyError:
                raise
            except Exception as exc:  # noqa: BLE001 - ApiException / websocket errors
                error = translate(exc, verb="create", resource="pods/exec", namespace=self.namespace)
                if isinstance(error, NotFound):
                    raise PySpyError(f"pod {self.namespace}/{self.pod} not found") from exc
                if not isinstance(error, Forbidden):
                    raise PySpyError(f"exec into {self.where} failed: {getattr(exc, 'reason', exc)}") from exc
                exec_forbidden = True
                probe = None
            if probe is not None:
                answer = probe.stdout.decode(errors="replace").split()
                if answer[:1] == ["ok"]:
                    self.mode, self.pid = "exec", answer[1] if len(answer) > 1 else "1"
                    return self.mode
            self._start_agent(exec_forbidden)
            self.mode = "agent"
            return self.mode

    def _start_agent(self, exec_forbidden: bool) -> None:
        from kubernetes import client

        agent_ns = self.options.agent_namespace or self.namespace
        why = (f"exec into {self.where} is forbidden (pods/exec in {self.namespace})" if exec_forbidden
               else f"py-spy is not on the PATH of {self.where}")
        if not self.options.agent:
            raise PySpyError(f"{why}, and node agents are disabled")
        if exec_forbidden and agent_ns == self.namespace:
            raise PySpyNotAllowed(
                f"py-spy: {why}; a node agent in {agent_ns} needs pods/exec there too: grant create on "
                f"pods/exec (and pods) in {agent_ns}, or run the agent in another namespace")
        core = client.CoreV1Api(self.api)
        pod = cast(dict[str, Any], self.api.sanitize_for_serialization(
            core.read_namespaced_pod(self.pod, self.namespace)))
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            raise PySpyError(f"pod {self.namespace}/{self.pod} is not scheduled to a node yet")
        self._container_id = container_id(pod, self.container)
        manifest = agent_pod_manifest(self.namespace, self.pod, node, image=self.options.agent_image,
                                      namespace=agent_ns, capture_id=self.capture_id)
        try:
            self.agent = NodeAgent(self.api, manifest)
        except Exception as exc:  # noqa: BLE001
            if isinstance(translate(exc, verb="create", resource="pods", namespace=agent_ns), Forbidden):
                text = str(getattr(exc, "body", "") or getattr(exc, "reason", ""))
                if "PodSecurity" in text:
                    raise PySpyNotAllowed(
                        f"py-spy: {why}, and namespace {agent_ns} enforces Pod Security, which rejects the "
                        "node agent (hostPID, SYS_PTRACE); run the agent in a privileged namespace") from None
                raise PySpyNotAllowed(
                    f"py-spy: {why}, and creating a node agent is forbidden (pods create in {agent_ns}); "
                    f"grant create on pods/exec in {self.namespace} or on pods and pods/exec in {agent_ns}"
                ) from None
            raise PySpyError(f"could not create a py-spy node agent: {getattr(exc, 'reason', exc)}") from None
        try:
            self.agent.wait_ready(self.options.agent_ready_timeout)
        except BaseException:
            self.close()
            raise

    def command(self, seconds: float) -> tuple[str, str, str | None, list[str]]:
        """(namespace, pod, container, argv) of the exec that records one window."""
        if self.mode == "agent" and self.agent is not None:
            return (self.agent.namespace, self.agent.name, AGENT_CONTAINER,
                    agent_record_command(self._container_id, seconds, self.options))
        return self.namespace, self.pod, self.container, exec_record_command(seconds, self.options)

    def record(self, seconds: float, stop: threading.Event | None = None) -> bytes:
        """Profile for ``seconds`` (less if ``stop`` is set meanwhile); return py-spy's speedscope JSON as written.

        ``last_window`` holds the (start, duration) of the window just recorded.
        """
        self.prepare()
        if self.mode == "agent":
            self._refresh_container_id()
        namespace, pod, container, argv = self.command(seconds)
        start = time.time()
        try:
            result = run_exec(self.api, namespace, pod, container, argv, seconds + self.options.exec_grace,
                              stop=stop, stdin=True)
        except PySpyError:
            raise
        except Exception as exc:  # noqa: BLE001
            if isinstance(translate(exc, verb="create", resource="pods/exec", namespace=namespace), NotFound):
                raise PySpyError(f"pod {namespace}/{pod} is gone") from exc
            raise PySpyError(f"exec into {namespace}/{pod} failed: {getattr(exc, 'reason', exc)}") from None
        ended = time.time()
        self.last_window = (start, min(ended - start, float(max(1, round(seconds)))))
        if result.exit_code != 0:
            raise PySpyError(f"py-spy on {self.where} failed (exit {result.exit_code}): "
                             + self.explain(result.stderr if result.stderr.strip() else result.error))
        data, snapshots = split_record_output(result.stdout)
        self.last_cpu = _timed_snapshots(snapshots, start, ended)
        if not (data.startswith(b"{") and data.endswith(b"}")):
            raise PySpyError(f"py-spy on {self.where} returned no speedscope JSON ({len(data)} bytes)")
        return data

    def _refresh_container_id(self) -> None:
        """A restarted container has a new id (and process): follow it before each agent window."""
        from kubernetes import client

        try:
            pod = client.CoreV1Api(self.api).read_namespaced_pod(self.pod, self.namespace)
        except Exception as exc:  # noqa: BLE001
            if isinstance(translate(exc, verb="get", resource="pods", namespace=self.namespace), NotFound):
                raise PySpyError(f"pod {self.namespace}/{self.pod} is gone") from exc
            return  # keep the last known id; the window's own error will say more
        self._container_id = container_id(
            cast(dict[str, Any], self.api.sanitize_for_serialization(pod)), self.container)

    def explain(self, output: str) -> str:
        """One line of why py-spy failed, naming the fix for missing ptrace rights."""
        text = output.lower()
        if "permission denied" in text or "operation not permitted" in text:
            if self.mode == "agent":
                return "ptrace not permitted in the node agent (the node may forbid SYS_PTRACE)"
            return (f"ptrace not permitted on pid {self.pid or 1}: add SYS_PTRACE to the container's "
                    "securityContext.capabilities")
        return first_error_line(output)

    def close(self) -> None:
        """Delete the node agent, if one was created."""
        agent, self.agent = self.agent, None
        if agent is not None:
            agent.delete()
        self.mode = None if self.mode == "agent" else self.mode

