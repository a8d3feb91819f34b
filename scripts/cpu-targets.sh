#!/usr/bin/env bash
# The CPU-kernel targets of the README, measured side by side in one run (release build).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
eie=./target/release/eie
echo "## read bandwidth by working-set size, 1 thread (eie probe)"
$eie probe; echo
echo "## dense GEMV, VGG-6, cold (DRAM), 1 and 2 threads"
for t in 1 2; do $eie measure --layer VGG-6 --backend cpu-dense-f32 --backend ndarray-dense-f32 --cold --threads "$t" --budget-ms 1500 2>/dev/null; echo; done
echo "## VGG-7, batch 1, 1 thread, every backend"
$eie measure --layer VGG-7 2>/dev/null; echo
echo "## VGG-7, EIE format, 2 threads"
$eie measure --layer VGG-7 --backend cpu-eie-f32 --backend cpu-eie-fixed --threads 2 2>/dev/null; echo
echo "## VGG-7, batch 64, 1 thread"
$eie measure --layer VGG-7 --backend cpu-eie-f32 --backend cpu-eie-fixed --backend cpu-csr-f32 --backend cpu-dense-f32 --batch 64 2>/dev/null
