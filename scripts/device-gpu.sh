#!/usr/bin/env bash
# GPU checks and measurements on a real GPU lent by the `device` tool (an NVIDIA H200 here), which has no Rust
# toolchain and no Vulkan loader. Two steps:
#
#   scripts/device-gpu.sh prepare     # here: build `eie` (with NVML power), stage it, the real FC8 data and the
#                                     # Vulkan loader packages under .device/ and .gl/ (both git-ignored)
#   device run, carry [".device", ".gl"], command: bash scripts/device-gpu.sh run
#
# `run` unpacks the loader, points Vulkan at the NVIDIA driver, then writes under $OUT (at most 8 files come
# back): records.jsonl (every result as a record: `eie validate`, `eie measure` of the GPU backends at batch 1
# and 64 with device timestamps, PyTorch's cuBLAS and cuSPARSE layers from scripts/gpu-libs.py (SKIP_LIBS=1
# leaves them out), and `eie report`'s own measurement of every backend with NVML power), adapters.txt,
# gpu-libs.json (with the device's read bandwidth), sweep.tgz (the GPU kernels' tuning knobs on four layers,
# records per setting), report.tgz (rendered from the records there) and log.txt. Commit what comes back under
# results/<adapter>/ and render it anywhere with `eie report results/<adapter>/records.jsonl`. EIE_LAYERS="NT-LSTM Alex-8" limits the layers and THREADS (default 16) sets our CPU kernels' threads in the report (a quick smoke test elsewhere).
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
    # The NVIDIA Vulkan driver lives in libGLX_nvidia, which needs glvnd: the loader alone finds no device.
    if ! ls .gl/libglvnd0_*.deb >/dev/null 2>&1; then
        mkdir -p /tmp/amd64/partial
        o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
        # shellcheck disable=SC2086
        apt-get $o update -qq
        # shellcheck disable=SC2086
        (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
    fi
    du -sh .device .gl
    ;;
run)
    OUT="${OUT:-results/device-run}"
    mkdir -p "$OUT"
    exec > >(tee "$OUT/log.txt") 2>&1
    tee_pid=$!
    for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
    ldconfig
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
    egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$egl"
    ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>/dev/null
    [ -f "$icd" ] && cat "$icd"
    export EIE_DATA_DIR="$PWD/.device/data"
    eie=./.device/eie
    # The device tool allows 10 minutes a command: every step has its own limit (SWEEP_S and REPORT_S set
    # two of them), about 8 minutes in all, the most important first.
    ldd --version | head -1 # the binary needs glibc 2.35 or newer
    timeout -k 5 20 nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,clocks.max.mem --format=csv || true
    timeout -k 5 30 $eie adapters | tee "$OUT/adapters.txt"
    if grep -q 'unavailable' "$OUT/adapters.txt"; then
        # Say why the loader found no device, then go on: PyTorch's rows still run.
        VK_LOADER_DEBUG=error,warn timeout -k 5 30 $eie adapters 2>&1 | head -40
    fi
    gpu=(--backend gpu-dense-f32 --backend gpu-csr-f32 --backend gpu-eie-f32 --backend gpu-eie-fixed)
    layers=()
    for l in ${EIE_LAYERS:-}; do layers+=(--layer "$l"); done
    rec="$OUT/records.jsonl"
    timeout -k 5 90 $eie validate ${layers[@]+"${layers[@]}"} "${gpu[@]}" --backend cpu-eie-fixed --save "$rec" >/dev/null
    echo "validate: exit $? (at ${SECONDS} s)"
    for b in 1 64; do
        timeout -k 5 60 $eie measure ${layers[@]+"${layers[@]}"} "${gpu[@]}" --batch "$b" --budget-ms 200 --save "$rec" >/dev/null
        echo "measure batch $b: exit $? (at ${SECONDS} s)"
    done
    # The tuning knobs (kernels/src/gpu/backend.rs), swept on four layers; one JSON file per setting.
    sweep_layers=(--layer VGG-6 --layer VGG-7 --layer Alex-8 --layer NT-We)
    [ -n "${EIE_LAYERS:-}" ] && sweep_layers=("${layers[@]}")
    rm -rf /tmp/sweep && mkdir -p /tmp/sweep
    timeout -k 5 "${SWEEP_S:-170}" bash -c '
        eie=$0
        m() { "$eie" measure "$@" --budget-ms 100 --format json; }  # one records array per setting
        for z in list walk; do
            for p in 16 32 64 128 256; do
                EIE_GPU_EIE_ZEROS=$z EIE_GPU_EIE_PARTS=$p m "${@}" --backend gpu-eie-f32 --backend gpu-eie-fixed \
                    >/tmp/sweep/eie-$z-parts-$p.json
            done
        done
        for w in 32 64 128 256; do
            EIE_GPU_ROW_WG=$w m "${@}" --backend gpu-dense-f32 --backend gpu-csr-f32 >/tmp/sweep/row-wg-$w.json
        done
        for k in 1 2 4 8 16 32; do
            EIE_GPU_DENSE_SPLITS=$k m "${@}" --backend gpu-dense-f32 --batch 64 >/tmp/sweep/dense-splits-$k.json
        done' "$eie" "${sweep_layers[@]}"
    echo "sweeps: exit $? (at ${SECONDS} s)"
    tar czf "$OUT/sweep.tgz" -C /tmp sweep
    # What a PyTorch user would run instead (cuBLAS, cuSPARSE) and the device's read bandwidth (SKIP_LIBS=1
    # leaves it out: it does not change with our kernels).
    if [ -n "${SKIP_LIBS:-}" ]; then
        echo "gpu-libs: skipped (SKIP_LIBS)"
    elif python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        torch_layers=()
        for l in ${EIE_LAYERS:-}; do torch_layers+=(--layer "$l"); done
        timeout -k 5 90 python3 scripts/gpu-libs.py --eie "$eie" --out "$OUT/gpu-libs.json" --records "$rec" ${torch_layers[@]+"${torch_layers[@]}"}
        echo "gpu-libs: exit $? (at ${SECONDS} s)"
    else
        echo "gpu-libs: no PyTorch with CUDA here, skipped"
    fi
    timeout -k 5 "${REPORT_S:-100}" $eie report ${layers[@]+"${layers[@]}"} --out /tmp/report --budget-ms 100 --threads "${THREADS:-16}" >/dev/null
    echo "report: exit $? (at ${SECONDS} s)"
    [ -f /tmp/report/records.jsonl ] && cat /tmp/report/records.jsonl >>"$rec"
    [ -d /tmp/report ] && tar czf "$OUT/report.tgz" -C /tmp report
    # Let tee write the end of the log before the command returns.
    exec >&- 2>&-
    wait "$tee_pid"
    ;;
*)
    echo "usage: $0 prepare|run" >&2
    exit 2
    ;;
esac
