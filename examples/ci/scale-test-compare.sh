#!/usr/bin/env bash
# A small scale test of the example controller on a real control plane, captured with profkit
# and compared with the latest stored baseline; exits non-zero on a regression.
#
#   examples/ci/scale-test-compare.sh                      # compare with $BASELINE_DIR, store on success
#   CONTROLLER_ARGS="--keygen-per-reconcile 1" examples/ci/scale-test-compare.sh   # see it fail
#
# Environment (all optional):
#   BASELINE_DIR     bundles of earlier runs (default: ci-baselines); the latest one with the same
#                    targets is the baseline; an empty dir makes this run the first baseline
#   RESULTS_DIR      where this run's bundle, compare.html, compare.xml and compare.json go (ci-results)
#   CP_DIR           control plane state (default: a temp dir)
#   OBJECTS          Widgets created (20); DELETE: Widgets deleted after they are ready (0)
#   CONTROLLER_ARGS  extra flags of the example controller (default "--sync-period 2s")
#   DURATION         capture length (30s)
#   FAIL_ON          profkit compare --fail-on (warning)
#   BUDGET           budget file (examples/ci/budget.yaml)
#   STORE_BASELINE   1: store this run in BASELINE_DIR when the comparison passed (default 1)
#   KEEP_BASELINES   how many baselines to keep (10)
#
# Exit codes: 0 pass; 1 regression (profkit compare's gate); 2 bad input; other: setup failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BASELINE_DIR="${BASELINE_DIR:-ci-baselines}"
RESULTS_DIR="${RESULTS_DIR:-ci-results}"
CP_DIR="${CP_DIR:-$(mktemp -d -t profkit-ci-cp.XXXXXX)}"
OBJECTS="${OBJECTS:-20}"
DELETE="${DELETE:-0}"
CONTROLLER_ARGS="${CONTROLLER_ARGS:---sync-period 2s}"
DURATION="${DURATION:-30s}"
FAIL_ON="${FAIL_ON:-warning}"
BUDGET="${BUDGET:-$HERE/budget.yaml}"
STORE_BASELINE="${STORE_BASELINE:-1}"
KEEP_BASELINES="${KEEP_BASELINES:-10}"
NAME=widget-controller
NAMESPACE=scale-test
PYTHON="${PYTHON:-python3}"

mkdir -p "$BASELINE_DIR" "$RESULTS_DIR"
RUN="$RESULTS_DIR/run-$(date -u +%Y%m%dT%H%M%SZ)"

cleanup() { (cd "$REPO" && "$PYTHON" -m tests.e2e.controlplane down --dir "$CP_DIR") >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== control plane ($CP_DIR)"
(cd "$REPO" && "$PYTHON" -m tests.e2e.controlplane up --dir "$CP_DIR" >/dev/null)

echo "== example controller: $OBJECTS Widgets, flags: $CONTROLLER_ARGS"
# shellcheck disable=SC2086  # CONTROLLER_ARGS is a list of flags
(cd "$REPO" && "$PYTHON" -m tests.e2e.controlplane deploy-example --dir "$CP_DIR" --lang go --name "$NAME" \
    -n "$NAMESPACE" --objects "$OBJECTS" --delete "$DELETE" -- $CONTROLLER_ARGS)
sleep 3  # the first resync after the Widgets are ready

echo "== capture $DURATION"
profkit capture --deployment "$NAME" -n "$NAMESPACE" --kubeconfig "$CP_DIR/kubeconfig" \
    --duration "$DURATION" --profile-window 10s --scrape-interval 2s --out "$RUN"
profkit analyze "$RUN" || true

if ! find "$BASELINE_DIR" -name profkit.db -print -quit | grep -q .; then
    echo "== no baseline in $BASELINE_DIR yet: this run becomes the first one"
    [ "$STORE_BASELINE" = 1 ] && cp -r "$RUN" "$BASELINE_DIR/"
    exit 0
fi

echo "== compare with the latest baseline in $BASELINE_DIR"
budget_args=()
[ -f "$BUDGET" ] && budget_args=(--budget "$BUDGET")
status=0
profkit compare --baseline-dir "$BASELINE_DIR" "$RUN" --fail-on "$FAIL_ON" "${budget_args[@]}" \
    --junit "$RESULTS_DIR/compare.xml" --html "$RESULTS_DIR/compare.html" || status=$?
profkit compare --baseline-dir "$BASELINE_DIR" "$RUN" --fail-on "$FAIL_ON" "${budget_args[@]}" --json \
    > "$RESULTS_DIR/compare.json" 2>/dev/null || true

if [ "$status" -eq 0 ] && [ "$STORE_BASELINE" = 1 ]; then
    cp -r "$RUN" "$BASELINE_DIR/"
    # keep the newest $KEEP_BASELINES bundles (names sort by capture time)
    ls -1d "$BASELINE_DIR"/run-* 2>/dev/null | sort | head -n "-$KEEP_BASELINES" | xargs -r rm -rf
fi
echo "== profkit compare exited $status (report: $RESULTS_DIR/compare.html)"
exit "$status"
