#!/usr/bin/env python3
"""What a CPU user would reach for instead of our kernels, on the layers `eie export` writes.

    python3 scripts/cpu-libs.py --eie ./target/release/eie --records cpu-libs.jsonl [--layer VGG-7 ...]
        [--threads 1 --threads 2] [--batch 1 --batch 64] [--rounds 7]

Libraries, over the same decoded weights as our kernels (each followed by the bias and ReLU as the layer has them):
- PyTorch on the CPU: dense `addmv` (batch 1) / `addmm` (batch 64), which call MKL's sgemv/sgemm (or oneDNN) in
  the PyPI build; CSR `mv` / `mm` on a `sparse_csr_tensor`, which calls MKL's sparse BLAS (mkl_sparse_s_mv/mm)
  where PyTorch was built with MKL. `torch.__config__.show()` in each record's detail says what this build has.
- numpy: dense `D @ x` through its own BLAS (OpenBLAS in the PyPI wheels; threadpoolctl names the kernel core it
  dispatched to).
- scipy: CSR `W @ x` (scipy's own C++ csr_matvec / csr_matvecs loops, always one thread).

Each library is checked against the layer's f64 reference (`output_f64.npy`, batch 1, and every sample of a batch)
with DESIGN.md's bound for f32 (|y - y_ref| <= n eps_f32 sum_j |w_ij x_j|, n = the row's non-zero terms + 1) before
it is timed: a wrong answer gets no time. Times are wall clock around back-to-back calls (µs per call, the Python
call overhead included: the overhead of an empty call into each library is measured and written into the detail),
median of `--rounds` rounds with the quartiles, the libraries interleaved round by round so that drift on a shared
machine falls on all of them alike. Thread counts are set per library (torch.set_num_threads, threadpoolctl).

The records (backends torch-cpu-dense-f32, torch-cpu-csr-f32, numpy-dense-f32, scipy-csr-f32; time source
`wall-clock`) go beside ours in `eie report`.

`--ours BACKEND` (repeatable; e.g. cpu-dense-f32, cpu-csr-f32, cpu-eie-f32, faer-dense-f32) puts our backends in
the same rounds: after the libraries, each round runs `eie measure` on the same layer, batch and threads and takes
its median. Our records then carry the median of those round medians (with their spread), and the script prints,
per layer, batch and thread count, the median over rounds of each per-round ratio (ours against MKL's dense and
CSR products, against the fastest dense and CSR library of that round, and our EIE-format kernel against the
fastest peer of that round), which a drift of the machine during the run does not bias.

PyTorch from PyPI is its CUDA build (about 5 GB with its CUDA libraries). When this Python lacks torch, numpy,
scipy or threadpoolctl, the script makes a virtual environment of its own (`target/cpu-libs-venv`, ignored by git),
installs them there and runs itself again inside it. It is not part of CI or of the README's two commands.

`--pin` (Linux) runs each thread count on the first that many CPUs of the script's own affinity: the script's
thread and the `eie measure` processes it starts (which inherit it) on CPU 0 alone for one thread, so that every
library and every kernel of a one-thread round runs on the same core (on a 2-vCPU VM whose vCPUs run at
different speeds while the host is busy, the scheduler would otherwise place each run on either). The records'
details say which CPUs. Thread pools the libraries make later inherit the mask in force when they start
(OpenBLAS's at import, before any pinning; PyTorch's OpenMP pool at its first parallel call).

OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set to keep old OpenBLAS builds safe, slow a current
numpy down; they are removed from this script's own environment before numpy loads (the kernel it then runs is
in the detail).

`--isa avx2` holds our kernels at AVX2 (`eie measure --isa avx2`) and caps the libraries that can be capped at
the same level, before they load: MKL (MKL_ENABLE_INSTRUCTIONS=AVX2), oneDNN (ONEDNN_MAX_CPU_ISA=AVX2) and
OpenBLAS (OPENBLAS_CORETYPE=Haswell, its AVX2 kernels). On an AVX-512 machine that is the AVX2 comparison
without an AVX2 machine: the same kernels, not the same core (an AVX2-only core has other widths, caches and
clocks). faer cannot be capped (its matrix product picks AVX-512 from the CPU's flags at run time) and scipy's
loops are compiled once; their records say so.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

import records

for _v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(_v, None)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "target", "cpu-libs-venv")
PACKAGES = ["numpy", "scipy", "threadpoolctl", "torch"]
LAYERS = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM", "alexnet-fc8-real"]
PAPER = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]
EPS32 = 2.0 ** -23
# --isa LEVEL: the environment that caps each library at that level (read when the library loads).
# MKL, oneDNN and PyTorch's own elementwise kernels (the bias and ReLU after the product); numpy's elementwise
# loops (its `+ bias`, `maximum`) pick their own level and are not capped: O(rows) against the product's O(rows x cols).
ISA_CAPS = {"avx2": {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
                     "OPENBLAS_CORETYPE": "Haswell"}}
# The libraries the caps reach, and which of the variables each reads.
CAPPED = {"torch": ["MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"], "numpy": ["OPENBLAS_CORETYPE"]}


def ensure_packages():
    """Imports the libraries, or installs them into a venv of our own and runs this script there."""
    try:
        import numpy, scipy, threadpoolctl, torch  # noqa: F401
        return
    except ImportError as e:
        missing = e.name
    py = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        sys.exit(f"error: {missing} is still missing inside {VENV}; remove that folder and run again")
    if not os.path.exists(py):
        print(f"{missing} is missing: making {VENV} (PyTorch's PyPI build is about 5 GB)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    subprocess.run([py, "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    os.execv(py, [py, os.path.abspath(__file__), *sys.argv[1:]])


def export(eie, name, root):
    """The layer as `eie export` writes it (exported once per folder), with its metadata."""
    import numpy as np
    d = os.path.join(root, name)
    if not os.path.exists(os.path.join(d, "meta.json")):
        subprocess.run([eie, "export", "--layer", name, "--out", d], check=True, capture_output=True)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    arr = {}
    for k in ["csr_indptr", "csr_indices", "csr_data", "input", "bias", "output_f64"]:
        p = os.path.join(d, k + ".npy")
        if os.path.exists(p):
            arr[k] = np.load(p)
    if "bias" not in arr:
        arr["bias"] = np.zeros(meta["outputs"], dtype=np.float32)
    return meta, arr


def batch_of(x, batch):
    """`batch` samples: the layer's input scaled by 1, 1.01, 1.02, ... (sample-distinct, same sparsity)."""
    import numpy as np
    if batch == 1:
        return x.copy()
    return np.ascontiguousarray(x[:, None] * (1.0 + 0.01 * np.arange(batch, dtype=np.float32))[None, :])


def reference(meta, a, X):
    """f64 outputs of every sample and DESIGN.md's per-output bound for f32."""
    import numpy as np
    import scipy.sparse as sp
    rows, cols = meta["outputs"], meta["inputs"]
    W = sp.csr_matrix((a["csr_data"].astype(np.float64), a["csr_indices"], a["csr_indptr"]), shape=(rows, cols))
    X64 = X.astype(np.float64)
    b = a["bias"].astype(np.float64)
    bb = b if X.ndim == 1 else b[:, None]
    y = W @ X64 + bb
    mag = abs(W) @ np.abs(X64) + np.abs(bb)
    n = np.diff(a["csr_indptr"]).astype(np.float64) + 2.0  # non-zero terms + bias + 1
    bound = (n if X.ndim == 1 else n[:, None]) * EPS32 * mag
    if meta["relu"]:
        y = np.maximum(y, 0.0)
    return y, bound


def check(y, ref, bound):
    import numpy as np
    y = np.asarray(y, dtype=np.float64).reshape(ref.shape)
    err = np.abs(y - ref)
    ok = bool(np.all(np.isfinite(y)) and np.all(err <= bound))
    worst = int(np.argmax(err / np.maximum(bound, 1e-300)))
    return {"max_abs_err": float(err.max()), "bound": float(bound.flat[worst]), "exact": False, "ok": ok,
            **({} if ok else {"message": f"max error {err.max():e} exceeds DESIGN.md's bound"})}


class Libraries:
    """The four library backends of one layer at one batch, as zero-argument calls."""

    def __init__(self, threads):
        import numpy as np
        import scipy
        import threadpoolctl
        import torch
        # CSR tensors are "beta" in PyTorch: said once here, not on every layer.
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        self.np, self.torch, self.threads = np, torch, threads
        torch.set_num_threads(threads)
        self.limits = threadpoolctl.threadpool_limits(limits=threads)
        blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        self.numpy_blas = ", ".join(
            f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or 'kernel unknown'})"
            for i in blas) or "BLAS unknown"
        cfg = torch.__config__.show()
        self.torch_has = ", ".join(x for x, key in [("MKL", "USE_MKL=ON"), ("oneDNN", "USE_MKLDNN=ON"),
                                                     ("OpenMP", "USE_OPENMP=ON")] if key in cfg) or "no MKL"
        mkl = torch.backends.mkl.is_available()
        self.version = {
            "torch": f"torch {torch.__version__} on the CPU ({self.torch_has}; MKL {'available' if mkl else 'absent'}; "
                     f"ATen kernels at {torch.backends.cpu.get_cpu_capability()})",
            "numpy": f"numpy {np.__version__} with {self.numpy_blas}",
            "scipy": f"scipy {scipy.__version__} (its own CSR loops, one thread)",
        }
        self.overhead = self.call_overheads()

    def call_overheads(self):
        """µs of a call that does almost nothing, per library: what Python adds to every call."""
        np, t = self.np, self.torch
        import scipy.sparse as sp
        d, v = t.ones(1, 1), t.ones(1)
        nd, nv = np.ones((1, 1), dtype=np.float32), np.ones(1, dtype=np.float32)
        s = sp.csr_matrix(nd)
        calls = {"torch": lambda: t.mv(d, v), "numpy": lambda: nd @ nv, "scipy": lambda: s @ nv}
        return {k: time_calls(f, 20.0, 5)[0] for k, f in calls.items()}

    def backends(self, meta, a, X):
        np, t = self.np, self.torch
        import scipy.sparse as sp
        rows, cols = meta["outputs"], meta["inputs"]
        Wsp = sp.csr_matrix((a["csr_data"], a["csr_indices"], a["csr_indptr"]), shape=(rows, cols))
        D = np.ascontiguousarray(Wsp.toarray())
        b = a["bias"]
        bb = b if X.ndim == 1 else np.ascontiguousarray(b[:, None])
        Wt = t.sparse_csr_tensor(t.from_numpy(a["csr_indptr"].astype(np.int64)),
                                 t.from_numpy(a["csr_indices"].astype(np.int64)),
                                 t.from_numpy(a["csr_data"]), size=(rows, cols))
        Dt, bt, Xt = t.from_numpy(D), t.from_numpy(bb), t.from_numpy(X)
        relu = meta["relu"]
        act = (lambda y: np.maximum(y, 0, out=y)) if relu else (lambda y: y)
        tact = (lambda y: y.relu_()) if relu else (lambda y: y)
        if X.ndim == 1:
            td = lambda: tact(t.addmv(bt, Dt, Xt))
            ts = lambda: tact(t.mv(Wt, Xt).add_(bt))
        else:
            td = lambda: tact(t.addmm(bt, Dt, Xt))
            ts = lambda: tact(t.mm(Wt, Xt).add_(bt))
        return {
            "torch-cpu-dense-f32": (td, "torch"),
            "torch-cpu-csr-f32": (ts, "torch"),
            "numpy-dense-f32": (lambda: act(D @ X + bb), "numpy"),
            "scipy-csr-f32": (lambda: act(Wsp @ X + bb), "scipy"),
        }


def cap_note(isa, lib):
    """What --isa did to one library, for its record's detail ("" without --isa)."""
    if not isa:
        return ""
    caps = ISA_CAPS[isa]
    env = CAPPED.get(lib)
    if env:
        rest = "" if lib == "torch" else " (the product; numpy's own bias and ReLU loops are not capped)"
        return f"; capped at {isa} ({', '.join(f'{k}={caps[k]}' for k in env)}){rest}"
    why = {"faer": "faer picks its ISA from the CPU's flags", "scipy": "scipy's loops are compiled once"}[lib]
    return f"; not capped at {isa}: {why}"


def time_calls(f, min_ms, rounds):
    """Median and quartiles of µs per call over `rounds` rounds of back-to-back calls."""
    f()
    t0 = time.perf_counter()
    f()
    one = max((time.perf_counter() - t0) * 1e3, 1e-4)
    reps = int(min(max(min_ms / one, 1), 100000))
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(reps):
            f()
        per.append((time.perf_counter() - t0) * 1e6 / reps)
    return statistics.median(per), per, reps


def spread(v):
    v = sorted(v)
    q = statistics.quantiles(v, n=4) if len(v) > 1 else [v[0], v[0], v[0]]
    return {"median_us": statistics.median(v), "min_us": v[0], "max_us": v[-1], "q1_us": q[0], "q3_us": q[2]}


def measure_ours(args, name, batch, threads):
    """Our backends on one layer, batch and thread count: `eie measure`'s records (one process)."""
    cmd = [args.eie, "measure", "--layer", name, "--batch", str(batch), "--threads", str(threads),
           "--budget-ms", str(args.budget_ms), "--format", "json"] + (["--isa", args.isa] if args.isa else [])
    for b in args.ours:
        cmd += ["--backend", b]
    p = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(p.stdout)


# (label, our backend, the peers it is held against: the fastest of them in each round)
PAIRS = [
    ("dense vs MKL dense", "cpu-dense-f32", ["torch-cpu-dense-f32"]),
    ("faer dense vs MKL dense", "faer-dense-f32", ["torch-cpu-dense-f32"]),
    ("CSR vs MKL CSR", "cpu-csr-f32", ["torch-cpu-csr-f32"]),
    # MKL is not the fastest library everywhere (on the AVX-512 variant of our VM, AMD Zen 5, faer and
    # OpenBLAS beat it): hold each of our kernels against the best library of its kind too.
    ("dense vs fastest dense peer", "cpu-dense-f32", ["torch-cpu-dense-f32", "numpy-dense-f32", "faer-dense-f32"]),
    ("CSR vs fastest CSR peer", "cpu-csr-f32", ["torch-cpu-csr-f32", "scipy-csr-f32", "faer-csr-f32"]),
    ("EIE-format vs fastest peer", "cpu-eie-f32",
     ["torch-cpu-dense-f32", "torch-cpu-csr-f32", "numpy-dense-f32", "scipy-csr-f32", "faer-dense-f32",
      "faer-csr-f32"]),
]


def round_ratios(name, batch, threads, times, ours, rounds):
    """Per pair: the median over rounds of peer time / our time (> 1: ours faster) and its range."""
    rows = []
    for label, mine, peers in PAIRS:
        if mine not in ours:
            continue
        meds = ours[mine][0]
        per_round = []
        for i in range(min(rounds, len(meds))):
            cand = [times[p][i] for p in peers if p in times and len(times[p]) > i]
            cand += [ours[p][0][i] for p in peers if p in ours and len(ours[p][0]) > i]
            if cand:
                per_round.append(min(cand) / meds[i])
        if per_round:
            rows.append((name, batch, threads, label, statistics.median(per_round), min(per_round),
                         max(per_round)))
    return rows


def print_ratios(rows):
    print("\n| layer | batch | threads | pair | peer time / ours (median of rounds) | range |", file=sys.stderr)
    print("|---|---:|---:|---|---:|---|", file=sys.stderr)
    for name, batch, threads, label, med, lo, hi in rows:
        print(f"| {name} | {batch} | {threads} | {label} | {med:.2f}x | {lo:.2f}-{hi:.2f} |", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eie", default=os.path.join(ROOT, "target", "release", "eie"))
    ap.add_argument("--records", required=True, help="append the records to this JSON Lines file")
    ap.add_argument("--layer", action="append")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--threads", type=int, action="append", help="default: 1 and every logical CPU")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--min-ms", type=float, default=30.0, help="time per round and backend")
    ap.add_argument("--export-dir", default="/tmp/eie-export")
    ap.add_argument("--ours", action="append", default=[], help="our backend to interleave (eie measure)")
    ap.add_argument("--budget-ms", type=int, default=300, help="eie measure's budget per backend and round")
    ap.add_argument("--pin", action="store_true",
                    help="run N threads on the first N CPUs of this process's affinity (Linux)")
    ap.add_argument("--isa", choices=list(ISA_CAPS),
                    help="our kernels at this ISA level, and MKL, oneDNN and OpenBLAS capped at it")
    args = ap.parse_args()
    # Before any library loads (ensure_packages imports them): the caps are read at load time.
    if args.isa == "avx2" and os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            if not any(l.startswith("flags") and "avx2" in l.split() for l in f):
                sys.exit("error: --isa avx2: this CPU has no AVX2 (/proc/cpuinfo)")
    if args.isa:
        os.environ.update(ISA_CAPS[args.isa])
    if args.pin and not hasattr(os, "sched_setaffinity"):
        sys.exit("error: --pin needs os.sched_setaffinity (Linux)")
    # The records file is written at the end of a run that may take half an hour: refuse an unwritable one
    # now (a missing folder is created), not after the measurements.
    try:
        if os.path.dirname(args.records):
            os.makedirs(os.path.dirname(args.records), exist_ok=True)
        with open(args.records, "a"):
            pass
    except OSError as e:
        sys.exit(f"error: --records {args.records}: cannot write it: {e}")
    ensure_packages()
    import numpy as np
    cpus = sorted(os.sched_getaffinity(0)) if args.pin else []
    # Ascending: a thread pool a library starts keeps the mask it started under, so a wider phase
    # after a narrower one would find its pool confined.
    threads = sorted(set(args.threads or [1, len(cpus) or os.cpu_count() or 1]))
    if args.pin and max(threads) > len(cpus):
        sys.exit(f"error: --pin: {max(threads)} threads asked for, {len(cpus)} CPUs in this process's affinity")
    tool_version = None
    ratios = []
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    out = []
    for name in args.layer or LAYERS:
        try:
            meta, a = export(args.eie, name, args.export_dir)
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"warning: {name}: export failed ({e}); left out", file=sys.stderr)
            continue
        layer = {"name": name, "hash": meta["content_hash"], "inputs": meta["inputs"], "outputs": meta["outputs"]}
        paper = "Alex-8" if name == "alexnet-fc8-real" else (name if name in PAPER else None)
        if paper:
            layer["paper"] = paper
        for batch in args.batch or [1, 64]:
            X = batch_of(a["input"], batch)
            ref, bound = reference(meta, a, X)
            if batch == 1:
                exported = np.abs(ref - a["output_f64"]).max()
                if exported > 1e-9 * max(1.0, np.abs(ref).max()):
                    sys.exit(f"error: {name}: our f64 reference differs from the exported output_f64 by {exported}")
            for n in threads:
                pinned = ""
                if args.pin:
                    os.sched_setaffinity(0, cpus[:n])
                    pinned = f"; pinned to CPU{'s' if n > 1 else ''} {','.join(map(str, cpus[:n]))}"
                libs = Libraries(n)
                tool_version = tool_version or "; ".join(libs.version.values())
                fns = libs.backends(meta, a, X)
                checks = {b: check(f(), ref, bound) for b, (f, _) in fns.items()}
                times = {b: [] for b in fns}
                reps = {}
                ours = {}  # backend -> (per-round medians, last record)
                for _ in range(args.rounds):  # interleaved: every library once per round, then ours
                    for b, (f, _) in fns.items():
                        if checks[b]["ok"]:
                            _, per, reps[b] = time_calls(f, args.min_ms, 1)
                            times[b].extend(per)
                    if args.ours:
                        for r in measure_ours(args, name, batch, n):
                            if r.get("timing"):
                                meds, _ = ours.get(r["backend"], ([], None))
                                ours[r["backend"]] = (meds + [r["timing"]["wall"]["median_us"]], r)
                ratios.extend(round_ratios(name, batch, n, times, ours, args.rounds))
                for b, (meds, r) in ours.items():
                    r["timing"]["wall"] = spread(meds)
                    r["timing"]["samples"] = len(meds)
                    r["detail"] += f"; median of {len(meds)} round medians, interleaved with the libraries{pinned}"
                    if b.startswith("faer-"):
                        r["detail"] += cap_note(args.isa, "faer")
                    out.append(r)
                for b, (f, lib) in fns.items():
                    c = checks[b]
                    r = {"schema": 1, "layer": layer, "backend": b, "batch": batch,
                         "threads": 1 if lib == "scipy" else n,
                         "detail": f"{libs.version[lib]}; empty-call overhead {libs.overhead[lib]:.2f} µs"
                                   + cap_note(args.isa, lib)
                                   + (pinned if lib != "numpy" or n == 1 or n == len(cpus) else
                                      f"; calling thread pinned to CPUs {','.join(map(str, cpus[:n]))}, "
                                      "OpenBLAS's threads not (started at import)"),
                         "machine": records.machine(), "check": c}
                    if args.isa and lib in CAPPED:
                        r["isa"] = args.isa  # capped (cap_note): kept apart from uncapped runs by compare
                    if c["ok"]:
                        s = spread(times[b])
                        r["timing"] = {"source": "wall-clock", "wall": s, "samples": len(times[b]) * reps[b],
                                       "cold": False, "copies": 1}
                        print(f"{name:<16} {b:<20} batch {batch:<3} threads {n} {s['median_us']:10.1f} us",
                              file=sys.stderr)
                    else:
                        print(f"{name:<16} {b:<20} batch {batch:<3} FAILED: {c['message']}", file=sys.stderr)
                    out.append(r)
                libs.limits.restore_original_limits()
    tool = {"name": "scripts/cpu-libs.py", "version": tool_version or "none"}
    # The ratios first: they are on stderr even if the records file went away meanwhile.
    if ratios:
        print_ratios(ratios)
    with open(args.records, "a") as f:
        for r in out:
            if r.get("tool", {}).get("name") != "eie":
                r["tool"] = tool
                r["time"] = now
            f.write(json.dumps(r) + "\n")
    print(f"appended {len(out)} records to {args.records}", file=sys.stderr)
    failed = [r for r in out if not r["check"]["ok"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
