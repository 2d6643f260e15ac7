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
python -m pytest "$@"
