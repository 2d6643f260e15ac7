#!/usr/bin/env bash
# Produce a large real Go CPU profile for profkit's pprof benchmarks and check it.
#
#   benchmarks/gen_large_pprof.sh [OUT] [ARGS...]
#       Synthetic-call-graph mode (default): runs benchmarks/make_large_pprof.py
#       (benchmarks/goprog: thousands of generated functions, deep distinct
#       stacks, 5000 Hz, merged runs) with ARGS, writing OUT (default
#       benchmarks/data/go-cpu-manystacks.pb.gz). Fails unless OUT is >= MIN_MB
#       (default 5) MB and `go tool pprof -top` opens it.
#
#   MODE=mixed SECONDS_PER_RUN=60 RUNS=4 HZ=2000 benchmarks/gen_large_pprof.sh OUT
#       Real-workload mode: builds examples/go-keygen-server and records RUNS
#       CPU profiles of SECONDS each (runtime/pprof at HZ) of its --mixed
#       workload (encoding/json, compress/gzip, regexp, sort, sha256, a
#       recursive document walk, an RSA key every 20th unit) with pprof labels
#       worker/item, then merges them with `go tool pprof -proto`. Real library
#       stacks and labels, but far fewer distinct stacks per second: on a busy
#       2-core machine 10 s gave ~35 KB, so this mode does not reach 5 MB in
#       reasonable time; MIN_MB defaults to 0 here.
#
# Data files stay out of git (benchmarks/data/ is ignored).
set -euo pipefail
export GOTOOLCHAIN=local

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
mode="${MODE:-synthetic}"
out="${1:-$here/data/go-cpu-manystacks.pb.gz}"
[ "$#" -gt 0 ] && shift
command -v go >/dev/null || { echo "gen_large_pprof: needs the Go toolchain on PATH" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
start=$(date +%s)

case "$mode" in
synthetic)
    min_mb="${MIN_MB:-5}"
    python3 "$here/make_large_pprof.py" -o "$out" "$@"
    ;;
mixed)
    min_mb="${MIN_MB:-0}"
    seconds="${SECONDS_PER_RUN:-60}"
    runs="${RUNS:-4}"
    hz="${HZ:-2000}"
    tmp="$(mktemp -d "${TMPDIR:-/tmp}/profkit-mixed.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$repo/examples/go-keygen-server" && go build -o "$tmp/go-keygen-server" .)
    parts=()
    for run in $(seq 1 "$runs"); do
        "$tmp/go-keygen-server" --addr "" --mixed --keygen --pprof-labels --work-interval 0 \
            --workers 2 --seed "$run" --duration "${seconds}s" \
            --cpu-profile "$tmp/cpu-$run.pb.gz" --cpu-profile-rate "$hz" 2>/dev/null
        parts+=("$tmp/cpu-$run.pb.gz")
        echo "gen_large_pprof: run $run/$runs: $(stat -c %s "$tmp/cpu-$run.pb.gz") bytes" >&2
    done
    go tool pprof -proto "${parts[@]}" > "$out" 2>/dev/null
    ;;
*)
    echo "gen_large_pprof: unknown MODE=$mode (synthetic or mixed)" >&2
    exit 2
    ;;
esac

size=$(stat -c %s "$out")
if ! top="$(go tool pprof -top "$out" 2>&1)"; then
    echo "gen_large_pprof: go tool pprof -top cannot open $out:" >&2
    echo "$top" | head -5 >&2
    exit 1
fi
echo "$top" | sed -n '1,12p' >&2
printf 'gen_large_pprof: %s: %d bytes (%.1f MB), %ds\n' "$out" "$size" "$(awk -v s="$size" 'BEGIN{print s/1e6}')" "$(( $(date +%s) - start ))" >&2
if [ "$size" -lt $(( min_mb * 1000000 )) ]; then
    echo "gen_large_pprof: $out is smaller than $min_mb MB" >&2
    exit 1
fi
