#!/usr/bin/env bash
# Our CPU kernels against the libraries a user would pick instead, like for like, in one run:
# MKL (PyTorch's dense addmv/addmm and CSR mv/mm), OpenBLAS (numpy), scipy's CSR and faer (dense and CSR),
# interleaved round by round with our dense, CSR and EIE-format kernels (scripts/cpu-libs.py --ours),
# on every Table III layer and the real AlexNet FC8, batch 1 and 64, 1 and 2 threads.
#
#   scripts/cpu-targets.sh [OUT_DIR]          (default target/cpu-targets; ROUNDS=5, PYTHON=python3)
#
# ISA=avx2 holds our kernels at AVX2 and caps MKL, oneDNN and OpenBLAS there too (cpu-libs.py --isa): the AVX2
# comparison on an AVX-512 machine, same kernels but not the same core as an AVX2-only machine.
#
# One-thread rounds run pinned to one CPU, libraries and our kernels alike (cpu-libs.py --pin; PIN=0 leaves
# the scheduler free; it is needed off Linux, where --pin is refused).
#
# Writes OUT_DIR/isa.txt (the best ISA level and the CPU's name), OUT_DIR/records.jsonl (every backend's
# record, ours with the median of its round medians), OUT_DIR/ratios.md (the per-round ratios against MKL
# and the fastest peer), OUT_DIR/probe.txt (this machine's read bandwidth) and OUT_DIR/report/ (eie report
# of the records). Keep the machine quiet while it runs: the ratios are robust to drift, not to a compiler
# running beside them.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/cpu-targets}
mkdir -p "$out"
if [ -n "${ISA:-}" ]; then
    [ "$ISA" = avx2 ] || { echo "error: ISA=$ISA: only avx2 can be asked for" >&2; exit 2; }
    [ ! -r /proc/cpuinfo ] || grep -qw avx2 /proc/cpuinfo || { echo "error: ISA=avx2 on a CPU without AVX2" >&2; exit 2; }
fi
cargo build --release --features faer --quiet
eie=./target/release/eie
# (the flags list avx2 before avx512f: test for each, best first)
if grep -qw avx512f /proc/cpuinfo; then isa=avx512; elif grep -qw avx2 /proc/cpuinfo; then isa=avx2; else isa=portable; fi
echo "best ISA level: $isa" | tee "$out/isa.txt"
if [ -n "${ISA:-}" ]; then
    echo "run at: avx2 (ours with --isa avx2; MKL, oneDNN, OpenBLAS and PyTorch's elementwise kernels capped at AVX2; faer not cappable)" \
        | tee -a "$out/isa.txt"
fi
# the CPU as the records name it (a generic model name gets its family and model: scripts/records.py)
echo "CPU: $("${PYTHON:-python3}" -c 'import sys; sys.path.insert(0, "scripts"); import records; print(records.machine()["cpu"])')" \
    | tee -a "$out/isa.txt"
# The probes pinned like the rounds: one thread on the first CPU of this shell's affinity, two on the first two.
pin1=() pin2=()
if [ "${PIN:-1}" != 0 ]; then
    if command -v taskset > /dev/null; then
        cpus=($("${PYTHON:-python3}" -c 'import os; print(*sorted(os.sched_getaffinity(0))[:2])'))
        pin1=(taskset -c "${cpus[0]}")
        [ "${#cpus[@]}" -lt 2 ] || pin2=(taskset -c "${cpus[0]},${cpus[1]}")
    else
        echo "warning: no taskset: the probes run unpinned (the rounds are pinned)" | tee -a "$out/isa.txt" >&2
    fi
fi
${pin1[@]+"${pin1[@]}"} $eie probe > "$out/probe.txt"
${pin2[@]+"${pin2[@]}"} $eie probe --threads 2 >> "$out/probe.txt"
rm -f "$out/records.jsonl"
"${PYTHON:-python3}" scripts/cpu-libs.py --eie "$eie" --records "$out/records.jsonl" \
    --threads 1 --threads 2 --batch 1 --batch 64 --rounds "${ROUNDS:-5}" \
    --ours cpu-dense-f32 --ours cpu-csr-f32 --ours cpu-eie-f32 --ours cpu-eie-fixed \
    --ours faer-dense-f32 --ours faer-csr-f32 $([ "${PIN:-1}" = 0 ] || echo --pin) \
    ${ISA:+--isa "$ISA"} 2> "$out/log.txt"
sed -n '/^| layer | batch/,$p' "$out/log.txt" | grep '^|' > "$out/ratios.md"
$eie report "$out/records.jsonl" --out "$out/report" > /dev/null
cat "$out/ratios.md"
echo "wrote $out/records.jsonl, $out/ratios.md, $out/probe.txt, $out/report/"
