#!/usr/bin/env bash
# GPU checks and measurements on a real GPU lent by the `device` tool (an NVIDIA H200 here), which has no Rust
# toolchain and no Vulkan loader. Two steps:
#
#   scripts/device-gpu.sh prepare     # here: build `eie` (with NVML power), stage it, the real FC8 data and the
#                                     # Vulkan loader packages under .device/ and .gl/ (both git-ignored)
#   device run, carry [".device", ".gl"], command: bash scripts/device-gpu.sh run
#
# `run` unpacks the loader, points Vulkan at the NVIDIA driver, then writes under $OUT (at most 8 files come
# back): adapters.txt, validate.json (every GPU backend x every layer x batch 1, 64), measure-b1.json and
# measure-b64.json (the GPU backends on all layers, with device timestamps), report.tgz (`eie report` with
# NVML power) and log.txt. Commit what comes back under results/<adapter>/. EIE_LAYERS="NT-LSTM Alex-8" limits
# the layers and THREADS (default 16) sets our CPU kernels' threads in the report (a quick smoke test elsewhere).
set -uo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    set -e
    cargo build --release --features nvml --quiet
    mkdir -p .device/data .gl
    strip -o .device/eie target/release/eie   # 64 MiB carry limit: no debug info
    data="${EIE_DATA_DIR:-../shared/data}/alexnet-fc8"
    if [ -d "$data" ]; then
        rm -rf .device/data/alexnet-fc8 && cp -r "$data" .device/data/
    fi
    grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >>.git/info/exclude
    if ! ls .gl/*.deb >/dev/null 2>&1; then
        mkdir -p /tmp/amd64/partial
        o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
        # shellcheck disable=SC2086
        apt-get $o update -qq
        # shellcheck disable=SC2086
        (cd .gl && apt-get $o download libvulkan1 >/dev/null)
    fi
    du -sh .device .gl
    ;;
run)
    OUT="${OUT:-results/device-run}"
    mkdir -p "$OUT"
    exec > >(tee "$OUT/log.txt") 2>&1
    for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
    export EIE_DATA_DIR="$PWD/.device/data"
    eie=./.device/eie
    nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv || true
    $eie adapters | tee "$OUT/adapters.txt"
    gpu=(--backend gpu-dense-f32 --backend gpu-csr-f32 --backend gpu-eie-f32 --backend gpu-eie-fixed)
    layers=()
    for l in ${EIE_LAYERS:-}; do layers+=(--layer "$l"); done
    timeout 150 $eie validate "${layers[@]}" "${gpu[@]}" --backend cpu-eie-fixed --format json >"$OUT/validate.json"
    echo "validate: exit $?"
    for b in 1 64; do
        timeout 120 $eie measure "${layers[@]}" "${gpu[@]}" --batch "$b" --budget-ms 200 --format json >"$OUT/measure-b$b.json"
        echo "measure batch $b: exit $?"
    done
    timeout 200 $eie report "${layers[@]}" --out /tmp/report --budget-ms 100 --threads "${THREADS:-16}" >/dev/null
    echo "report: exit $?"
    tar czf "$OUT/report.tgz" -C /tmp report
    ;;
*)
    echo "usage: $0 prepare|run" >&2
    exit 2
    ;;
esac
