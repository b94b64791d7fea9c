#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 15), one after the other.
#
#   fuzz/run.sh 20                     # CI smoke pass / `make fuzz`
#   TARGETS="axdr apdu" fuzz/run.sh 600
#
# New inputs go to fuzz/work/<target>/ (git-ignored); fuzz/corpus/<target>/ (committed seeds)
# and fuzz/regressions/<target>/ (minimised crashers) are read-only inputs. A crash stops that
# target with a non-zero status, leaves the input in fuzz/artifacts/<target>/, and the script
# goes on with the next target; it exits non-zero if any target failed.
# Needs a nightly toolchain (TOOLCHAIN, default "nightly") and cargo-fuzz.
set -uo pipefail

secs="${1:-15}"
toolchain="${TOOLCHAIN:-nightly}"
targets="${TARGETS:-splitter frame axdr apdu pipeline roundtrip}"
cd "$(dirname "$0")"

cargo "+$toolchain" fuzz build -O -a || exit 2

failed=()
for t in $targets; do
    mkdir -p "work/$t" "corpus/$t" "regressions/$t" "artifacts/$t"
    echo "=== $t: ${secs}s"
    if ! cargo "+$toolchain" fuzz run -O -a "$t" "work/$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=8192 \
        -print_final_stats=1; then
        failed+=("$t")
    fi
done

if ((${#failed[@]})); then
    echo "FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "all targets ran clean for ${secs}s each"
