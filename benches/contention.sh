#!/usr/bin/env bash
# Sharing the cores: the median epoch time (training and test evaluation,
# from --metrics) of a default `nndl train` alone, of two started together,
# and beside a busy loop. Usage: benches/contention.sh [NNDL_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
nndl=${1:-target/release/nndl}
[ -x "$nndl" ] || cargo build --release --quiet
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
median() { tail -n +2 "$1" | cut -d, -f3 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { "$nndl" train --seed "$1" --epochs 20 -q --metrics "$dir/$2.csv" --out "$dir/$2.json" >/dev/null; }
run 1 alone
run 1 a & run 2 b; wait
timeout 120 sh -c 'while :; do :; done' & busy=$!
run 1 busy
kill "$busy" 2>/dev/null || true
wait 2>/dev/null || true
alone=$(median "$dir/alone.csv")
for what in alone a b busy; do
    t=$(median "$dir/$what.csv")
    echo "$what: $t s/epoch ($(awk -v t="$t" -v a="$alone" 'BEGIN {printf "%.2f", t / a}')× alone)"
done
