#!/usr/bin/env python3
"""What a GPU user would reach for instead of our kernels, on the layers `eie export` writes.

    python3 scripts/gpu-libs.py --eie ./target/release/eie --out gpu-libs.json [--records r.jsonl] [--layer VGG-7 ...]

For each layer: PyTorch's dense layer (cuBLAS: addmv at batch 1, addmm at batch 64) and its CSR layer
(cuSPARSE SpMV / SpMM) over the same decoded weights, each followed by ReLU as the layer has it, verified
against the layer's f64 reference at batch 1, then timed with CUDA events over back-to-back calls (µs per call:
what a PyTorch program sees, launch overhead included). Also the device's read bandwidth (a sum over 4 GiB)
and copy bandwidth (read + write), the ceilings for the bandwidth shares of our wgpu kernels.

`--records FILE.jsonl` appends the PyTorch rows as eie-bench records (backends torch-cuda-dense-f32 and
torch-cuda-csr-f32, time source cuda-events) that `eie report` shows beside our kernels.

`--lib numpy` runs the same flow on the CPU with numpy/scipy (a dry run of loading, verification and the JSON
where PyTorch is missing); its times say nothing about any GPU.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

LAYERS = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM", "alexnet-fc8-real"]


def load(eie, name, root):
    d = os.path.join(root, name)
    if not os.path.exists(os.path.join(d, "meta.json")):
        subprocess.run([eie, "export", "--layer", name, "--out", d], check=True, capture_output=True)
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    arr = {k: np.load(os.path.join(d, k + ".npy"))
           for k in ["csr_indptr", "csr_indices", "csr_data", "input", "bias", "output_f64"]}
    return meta, arr


class Torch:
    def __init__(self):
        import torch
        self.t = torch
        self.dev = torch.device("cuda")
        self.name = torch.cuda.get_device_name(0)
        self.version = f"torch {torch.__version__}, CUDA {torch.version.cuda}"

    def layer(self, meta, a, batch):
        t = self.t
        rows, cols = meta["outputs"], meta["inputs"]
        W = t.sparse_csr_tensor(t.from_numpy(a["csr_indptr"]).to(self.dev),
                                t.from_numpy(a["csr_indices"].astype(np.int64)).to(self.dev),
                                t.from_numpy(a["csr_data"]).to(self.dev), size=(rows, cols))
        D = W.to_dense()
        b = t.from_numpy(a["bias"]).to(self.dev)
        x = t.from_numpy(a["input"]).to(self.dev)
        relu = meta["relu"]
        if batch == 1:
            X = x
            dense = lambda: t.addmv(b, D, X)
            sparse = lambda: t.mv(W, X).add_(b)
        else:
            scale = 1.0 + 0.01 * t.arange(batch, device=self.dev, dtype=t.float32)
            X = x[:, None] * scale[None, :]
            bb = b[:, None]
            dense = lambda: t.addmm(bb, D, X)
            sparse = lambda: t.mm(W, X).add_(bb)
        if relu:
            fd, fs = (lambda: dense().relu_()), (lambda: sparse().relu_())
        else:
            fd, fs = dense, sparse
        return {"torch-dense-f32": fd, "torch-csr-f32": fs}

    def out(self, y):
        return y.detach().cpu().numpy()

    def time_us(self, f, min_ms=20.0, rounds=5):
        t = self.t
        for _ in range(3):
            f()
        t.cuda.synchronize()
        s, e = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
        s.record()
        f()
        e.record()
        e.synchronize()
        one = max(s.elapsed_time(e), 1e-3)
        reps = int(min(max(min_ms / one, 1), 2000))
        meds = []
        for _ in range(rounds):
            s.record()
            for _ in range(reps):
                f()
            e.record()
            e.synchronize()
            meds.append(s.elapsed_time(e) * 1000.0 / reps)
        return float(np.median(meds)), reps

    def bandwidth(self):
        t = self.t
        n = 1 << 30  # 4 GiB of f32
        a = t.ones(n, device=self.dev, dtype=t.float32)
        read_us, _ = self.time_us(lambda: a.sum(), min_ms=50)
        c = t.empty_like(a)
        copy_us, _ = self.time_us(lambda: c.copy_(a), min_ms=50)
        del a, c
        t.cuda.empty_cache()
        return {"read_gbps": 4.0 * n / read_us / 1e3, "copy_gbps_read_plus_write": 8.0 * n / copy_us / 1e3}


class Numpy:
    """The dry run: the same flow with numpy and scipy on the CPU."""

    def __init__(self):
        import scipy.sparse as sp
        self.sp = sp
        self.name = "numpy/scipy on the CPU (dry run)"
        self.version = f"numpy {np.__version__}"

    def layer(self, meta, a, batch):
        rows, cols = meta["outputs"], meta["inputs"]
        W = self.sp.csr_matrix((a["csr_data"], a["csr_indices"], a["csr_indptr"]), shape=(rows, cols))
        D = W.toarray()
        b, x = a["bias"], a["input"]
        X = x if batch == 1 else x[:, None] * (1.0 + 0.01 * np.arange(batch, dtype=np.float32))[None, :]
        bb = b if batch == 1 else b[:, None]
        act = (lambda y: np.maximum(y, 0)) if meta["relu"] else (lambda y: y)
        return {"torch-dense-f32": lambda: act(D @ X + bb), "torch-csr-f32": lambda: act(W @ X + bb)}

    def out(self, y):
        return np.asarray(y)

    def time_us(self, f, min_ms=20.0, rounds=5):
        f()
        t0 = time.perf_counter()
        f()
        one = max((time.perf_counter() - t0) * 1e3, 1e-3)
        reps = int(min(max(min_ms / one, 1), 2000))
        meds = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            meds.append((time.perf_counter() - t0) * 1e6 / reps)
        return float(np.median(meds)), reps

    def bandwidth(self):
        a = np.ones(1 << 26, dtype=np.float32)
        us, _ = self.time_us(lambda: a.sum(), min_ms=50)
        return {"read_gbps": 4.0 * a.size / us / 1e3}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eie", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layer", action="append")
    ap.add_argument("--export-dir", default="/tmp/eie-export")
    ap.add_argument("--lib", choices=["torch", "numpy"], default="torch")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--records", help="append the rows as eie-bench records to this JSON Lines file")
    args = ap.parse_args()
    lib = Torch() if args.lib == "torch" else Numpy()
    res = {"device": lib.name, "library": lib.version, "timing": "CUDA events around back-to-back calls, "
           "median of 5 rounds, µs per call (launches included)" if args.lib == "torch" else "wall clock",
           "rows": []}
    try:
        res["bandwidth"] = lib.bandwidth()
        print("bandwidth", res["bandwidth"], flush=True)
    except Exception as e:  # record and go on: the layers still matter
        res["bandwidth"] = {"error": repr(e)}
    for name in args.layer or LAYERS:
        try:
            meta, a = load(args.eie, name, args.export_dir)
        except Exception as e:
            res["rows"].append({"layer": name, "error": f"export/load: {e!r}"})
            continue
        ref = a["output_f64"]
        scale = float(np.max(np.abs(ref))) or 1.0
        for batch in args.batch or [1, 64]:
            try:
                fns = lib.layer(meta, a, batch)
            except Exception as e:
                res["rows"].append({"layer": name, "batch": batch, "error": repr(e)})
                continue
            for backend, f in fns.items():
                row = {"layer": name, "backend": backend, "batch": batch}
                try:
                    y = lib.out(f())
                    if batch == 1:
                        row["max_abs_err_over_max_ref"] = float(np.max(np.abs(y.astype(np.float64) - ref)) / scale)
                    else:
                        row["max_abs_err_over_max_ref"] = float(
                            np.max(np.abs(y[:, 0].astype(np.float64) - ref)) / scale)
                    us, reps = lib.time_us(f)
                    row.update(us_per_call=us, us_per_sample=us / batch, reps=reps)
                except Exception as e:
                    row["error"] = repr(e)
                print(json.dumps(row), flush=True)
                res["rows"].append(row)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=1)
    if args.records and args.lib == "torch":
        write_records(args, lib, res)


def write_records(args, lib, res):
    """The rows as records (scripts/records.py), with this machine's identity."""
    import records
    t = lib.t
    machine = records.machine()
    props = t.cuda.get_device_properties(0)
    adapter = {"name": lib.name, "backend": "cuda", "driver": lib.version,
               "device_type": "IntegratedGpu" if props.is_integrated else "DiscreteGpu"}
    tool = {"name": "scripts/gpu-libs.py", "version": lib.version}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    layers = {}
    for name in {r["layer"] for r in res["rows"]}:
        with open(os.path.join(args.export_dir, name, "meta.json")) as f:
            m = json.load(f)
        layers[name] = dict(m, content_hash=m["content_hash"])
    with open(args.records, "a") as f:
        for row in res["rows"]:
            if "us_per_call" in row:
                r = records.torch_record(row, layers, machine, adapter, tool, now, lib.version)
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    sys.exit(main())
