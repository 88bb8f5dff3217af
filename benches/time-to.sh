#!/usr/bin/env bash
# Wall time from process start until an epoch's test accuracy first reaches
# a target, for any training command; the run is stopped there.
#
#   benches/time-to.sh TARGET [BINARY] -- TRAIN-FLAGS...
#   benches/time-to.sh 98.0 -- --hidden 800 --activation relu --output softmax \
#       --init he --momentum 0.9 --eta 0.1 --batch-size 100 --seed 1 \
#       --eta-schedule halve-on-plateau:2
#
# BINARY defaults to target/release/nndl; any nndl, old or new, will do: the
# test accuracy is read off its epoch lines. Prints the epoch and seconds.
set -euo pipefail
target=${1:?usage: time-to.sh TARGET [BINARY] -- TRAIN-FLAGS...}
shift
binary=target/release/nndl
if [[ ${1:-} != -- ]]; then
    binary=$1
    shift
fi
[[ ${1:-} == -- ]] && shift
start=$(date +%s.%N)
coproc RUN { exec "$binary" train --out "${TMPDIR:-/tmp}/time-to.$$.json" "$@" 2>/dev/null; }
trap 'kill "$RUN_PID" 2>/dev/null || true; rm -f "${TMPDIR:-/tmp}/time-to.$$.json"' EXIT
while IFS= read -r line <&"${RUN[0]}"; do
    [[ $line == Epoch* ]] || continue
    # "… test 9,812 / 10,000 (98.12%) …", or an older nndl's "Epoch N/M: 9,812 / 10,000 (98.12%)".
    if [[ $line == *" test "* ]]; then
        rest=${line#* test }
    else
        rest=$line
    fi
    percent=$(sed -E 's/^[^(]*\(([0-9.]+)%\).*/\1/' <<< "$rest")
    now=$(date +%s.%N)
    if awk -v p="$percent" -v t="$target" 'BEGIN { exit !(p >= t) }'; then
        epoch=$(sed -E 's/^Epoch ([0-9]+)\/.*/\1/' <<< "$line")
        awk -v s="$start" -v n="$now" -v p="$percent" -v e="$epoch" \
            'BEGIN { printf "%s%% at epoch %s, %.1f s from process start\n", p, e, n - s }'
        exit 0
    fi
done
echo "never reached ${target}%" >&2
exit 1
