#!/usr/bin/env bash
# Fuzzes Tresor's parsers with cargo-fuzz (libFuzzer): each target of fuzz/ for FUZZ_SECONDS
# (default 60; the test command's short run), two at a time. Every target first replays its
# seeds (fuzz/seeds/<target>) and every input that ever failed (fuzz/regressions/<target>), then
# fuzzes. A panic, a hang past 10 s or more than 2 GiB fails the run; libFuzzer writes the
# input to fuzz/artifacts/<target>/, which belongs in fuzz/regressions/ and in a unit test.
# A longer run: FUZZ_SECONDS=1800 scripts/fuzz.sh; some targets only: scripts/fuzz.sh policy
# request. The executions per target go to target/fuzz-report.md.
#
# Built on the stable toolchain without a sanitizer (`--sanitizer none`): the code is safe
# Rust, so a crash is a panic, an abort, a hang or memory growth, all of which libFuzzer sees.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
root="$PWD"
tools="$root/target/tools"
if ! [ -x "$tools/bin/cargo-fuzz" ]; then
    cargo install --quiet --locked cargo-fuzz --version 0.13.2 --root "$tools"
fi
export PATH="$tools/bin:$PATH"
cd fuzz
cargo fuzz build --sanitizer none -O
targets="${*:-$(cargo fuzz list)}"
logs="$root/target/fuzz-logs"
mkdir -p "$logs"

run() {
    local t="$1"
    mkdir -p "corpus/$t" "regressions/$t" "seeds/$t"
    "target/x86_64-unknown-linux-gnu/release/$t" \
        -artifact_prefix="artifacts/$t/" -max_total_time="$seconds" \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        "corpus/$t" "seeds/$t" "regressions/$t" >"$logs/$t.log" 2>&1
}

mkdir -p artifacts
pids=()
failed=0
for t in $targets; do
    mkdir -p "artifacts/$t"
    run "$t" &
    pids+=("$!:$t")
    # Two cores: two targets at a time.
    if [ "${#pids[@]}" -ge 2 ]; then
        p="${pids[0]}"; pids=("${pids[@]:1}")
        wait "${p%%:*}" || { echo "fuzz target ${p#*:} failed; see $logs/${p#*:}.log"; failed=1; }
    fi
done
for p in "${pids[@]}"; do
    wait "${p%%:*}" || { echo "fuzz target ${p#*:} failed; see $logs/${p#*:}.log"; failed=1; }
done

{
    echo "# Fuzzing: ${seconds} s per target, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "| target | executions | exec/s | corpus | result |"
    echo "|---|---|---|---|---|"
    for t in $targets; do
        log="$logs/$t.log"
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
        corpus=$(ls "corpus/$t" | wc -l)
        if grep -qE '^(==[0-9]+== ERROR|SUMMARY): libFuzzer|panicked at' "$log"; then
            result="FAILED: $(ls -t "artifacts/$t" | head -1)"
        else
            result="no crash"
        fi
        echo "| $t | ${runs:-?} | ${speed:-?} | $corpus | $result |"
    done
} | tee "$root/target/fuzz-report.md"
exit "$failed"
