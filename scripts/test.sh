#!/usr/bin/env bash
# Install profkit with its test dependencies into .venv and run the whole test suite.
# The first run on a new machine also builds the real control plane (Kubernetes, etcd, kwok)
# from Go modules into ~/.cache/profkit-e2e, which takes a while; later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e '.[test]'
# The Python example controller and the kopf example operator, which the e2e tests run for real, have their own dependencies.
python -m pip install -q -r examples/python-controller/requirements.txt -r examples/kopf-operator/requirements.txt
if { ! command -v chromium || ! command -v promtool; } >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
        && command -v apt-get >/dev/null; then
    # Debian's prometheus brings promtool too; the Prometheus tests start their own server on 127.0.0.1.
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium prometheus >/dev/null) \
        || echo "warning: could not install chromium/prometheus; browser and Prometheus tests will be skipped" >&2
fi
if [ "$#" -gt 0 ] || ! command -v go >/dev/null; then
    python -m pytest "$@"
    exit
fi
# The whole suite in two phases. The control plane's build (a no-op when ~/.cache/profkit-e2e holds it,
# ~20 min on a new 2-core machine) runs in the background while the unit and integration tests run, so a
# cold run pays for the longer of the two, not both; the e2e tests start only after both, on a quiet machine.
build_log=$(mktemp)
# Prometheus too: Debian's has no Kubernetes service discovery, which the e2e tests discover pods with.
{ python -m tests.e2e.controlplane build && python -m tests.e2e.controlplane build-prometheus; } >"$build_log" 2>&1 &
build_pid=$!
trap 'kill "$build_pid" 2>/dev/null || true' INT TERM
status=0
python -m pytest tests/unit tests/integration --durations=20 || status=$?
if ! wait "$build_pid"; then
    echo "control-plane build failed; the e2e tests will report it" >&2
fi
trap - INT TERM
cat "$build_log" >&2
rm -f "$build_log"
python -m pytest tests/e2e --durations=30 || status=$?
exit "$status"
