#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 60): the WAL segment
# decoder and recovery, the batch/NDJSON parsers with validation, the
# query parser with request validation, and templating with the
# query-time merge. Targets are in fuzz/fuzz_targets,
# seed inputs in fuzz/seeds/<target>; what a run discovers goes to a
# temporary corpus, a crash to fuzz/artifacts/<target>/ (make it a
# regression test, then delete it).
#
# Works on the stable toolchain: `-s none` (no sanitizer; a Rust panic or
# a failed assertion is what counts as a crash).
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/../fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
status=0
for target in wal_segment batch query template; do
    corpus="$(mktemp -d)"
    args=(-max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "dicts/$target.dict" ]; then
        args+=(-dict="dicts/$target.dict")
    fi
    echo "== fuzz $target for ${seconds}s"
    log="$(mktemp)"
    if cargo fuzz run -s none "$target" "$corpus" "seeds/$target" -- "${args[@]}" >"$log" 2>&1; then
        grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true
    else
        tail -n 40 "$log"
        echo "fuzz $target FAILED (the input is in fuzz/artifacts/$target)"
        status=1
    fi
    rm -f "$log"
    rm -rf "$corpus"
done
exit "$status"
