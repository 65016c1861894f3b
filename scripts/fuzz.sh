#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60): the WAL segment decoder
# and recovery, the batch/NDJSON parsers with validation, the query parser
# with request validation, and templating with the query-time merge.
# Targets are in fuzz/fuzz_targets, seed inputs in fuzz/seeds/<target>;
# what a run discovers goes to a temporary corpus, a crash to
# fuzz/artifacts/<target>/ (make it a regression test, then delete it).
#
# The targets are libFuzzer binaries (libfuzzer-sys). They are built here as
# `cargo fuzz run -s none` builds them, on the stable toolchain, without
# installing cargo-fuzz: optimised with debug assertions, SanitizerCoverage
# instrumentation, `--cfg fuzzing`, and an explicit target so that build
# scripts and proc-macros are not instrumented. No sanitizer: a Rust panic
# or a failed assertion is what counts as a crash. With cargo-fuzz
# installed, `cargo fuzz run -s none <target>` in fuzz/ runs the same.
set -euo pipefail
seconds="${1:-60}"
cd "$(dirname "$0")/../fuzz"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --release --bins --target "$triple"
# One target per core at a time (each has a core to itself for SECONDS).
run() {
    local target="$1" corpus log status=0
    corpus="$(mktemp -d)"
    log="$(mktemp)"
    mkdir -p "artifacts/$target"
    local args=(-artifact_prefix="artifacts/$target/" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "dicts/$target.dict" ]; then
        args+=(-dict="dicts/$target.dict")
    fi
    "target/$triple/release/$target" "${args[@]}" "$corpus" "seeds/$target" >"$log" 2>&1 || status=1
    # The report in one write, so that two targets' reports do not mix.
    local report
    report="== fuzz $target for ${seconds}s"$'\n'
    if [ "$status" -eq 0 ]; then
        report+="$(grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)" "$log" || true)"
        rmdir "artifacts/$target" 2>/dev/null || true
    else
        report+="$(tail -n 40 "$log")"$'\n'"fuzz $target FAILED (the input is in fuzz/artifacts/$target)"
    fi
    printf '%s\n' "$report"
    rm -f "$log"
    rm -rf "$corpus"
    return "$status"
}
cores="$(nproc)"
failed=0
pids=()
for target in wal_segment batch query template; do
    run "$target" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$cores" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
