#!/usr/bin/env python3
"""eie-bench records (schema 1, JSON Lines) written from Python: the PyTorch rows of `scripts/gpu-libs.py`,
and the migration of results saved before records existed (an `eie report` folder's report.json).

    # results of the first H200 runs (eie at 09e8c68 / efb1ab2) -> records:
    eie layers --format json > /tmp/layers.json
    python3 scripts/records.py migrate results/nvidia-h200/after --layers /tmp/layers.json \
        --commit efb1ab2 --date 2026-11-29 > results/nvidia-h200/records.jsonl

The record's fields are those of `src/record.rs` (`eie report` reads them back and refuses anything else).
Layer hashes come from `eie layers --format json` of an eie whose layer generation is unchanged since the run
(`git log -- compress/` shows none since 09e8c68).
"""
import argparse
import json
import os
import platform
import re
import sys

SCHEMA = 1
LINUX = "linux x86_64"
PAPER = ["Alex-6", "Alex-7", "Alex-8", "VGG-6", "VGG-7", "VGG-8", "NT-We", "NT-Wd", "NT-LSTM"]


def cpu_name(cpuinfo):
    """The CPU's name as `src/record.rs` (`cpu_name`) writes it: the first processor's `model name`, and where
    that names no model (a virtual machine's "AMD EPYC") its family and model numbers after it."""
    fields = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break
        k, sep, v = line.partition(":")
        if sep:
            fields.setdefault(k.strip(), v.strip())
    name = fields.get("model name")
    if name is None or any(c.isdigit() for c in name):
        return name
    if "cpu family" in fields and "model" in fields:
        return f"{name} (family {fields['cpu family']}, model {fields['model']})"
    return name


def machine():
    """This machine as a record's `machine` (Linux)."""
    try:
        cpu = cpu_name(open("/proc/cpuinfo").read())
    except OSError:
        cpu = None
    return {"cpu": cpu or platform.machine(), "logical_cpus": os.cpu_count() or 1,
            "os": f"linux {platform.machine()}"}


def layer_ref(layers, name):
    """The record's layer from `eie layers --format json`: the built-in layers are the paper's."""
    l = layers[name]
    paper = "Alex-8" if name == "alexnet-fc8-real" else (name if name in PAPER else None)
    ref = {"name": name, "hash": l["content_hash"], "inputs": l["inputs"], "outputs": l["outputs"]}
    if paper:
        ref["paper"] = paper
    return ref


def record(layer, backend, batch, threads, machine, tool, time, **rest):
    r = {"schema": SCHEMA, "layer": layer, "backend": backend, "batch": batch, "threads": threads,
         "detail": rest.pop("detail", ""), "machine": machine}
    r.update({k: v for k, v in rest.items() if v is not None})
    r["tool"] = tool
    r["time"] = time
    return r


def torch_record(row, layers, machine, adapter, tool, time, library):
    """A gpu-libs.py row (PyTorch on CUDA, CUDA events around back-to-back calls) as a record."""
    backend = {"torch-dense-f32": "torch-cuda-dense-f32", "torch-csr-f32": "torch-cuda-csr-f32"}[row["backend"]]
    rel = row["max_abs_err_over_max_ref"]
    return record(
        layer_ref(layers, row["layer"]), backend, row["batch"], 1, machine, tool, time,
        detail=f"{library}; error relative to max |y_ref|: {rel:.2e} (bound 1e-5)",
        adapter=adapter,
        timing={"source": "cuda-events", "device": {"median_us": row["us_per_call"]},
                "samples": row.get("rounds", 5), "cold": False, "copies": 1},
        check={"max_abs_err": rel, "bound": 1e-5, "exact": False, "ok": rel <= 1e-5},
    )


def migrate(folder, layers, commit, date):
    rep = json.load(open(f"{folder}/report/report.json"))
    m = rep["machine"]
    machine = {"cpu": m["cpu"], "logical_cpus": m["logical_cpus"], "os": LINUX}
    tool = {"name": "eie", "version": "0.1.0", "commit": commit}
    time = f"{date}T00:00:00Z"
    name, rest = m["gpu_adapter"].split(" (", 1)
    api, driver = rest.rstrip(")").split(", ", 1)
    adapter = {"name": name, "backend": api, "driver": driver, "device_type": m["gpu_adapter_type"]}
    bandwidth = {"threads": m["cpu_threads"], "hot_gbps": m["bandwidth_hot_gbps"], "cold_gbps": m["bandwidth_cold_gbps"],
                 "llc_bytes": m["llc_bytes"]}
    checks = {(c["layer"], c["backend"], c["batch"]): c for c in rep["checks"]}
    out = []
    for e in rep["entries"]:
        b = e["backend"]
        gpu = b.startswith("gpu-")
        c = checks[(e["layer"], b, e["batch"])]
        runs = int(re.match(r"measured \((\d+) runs\)", e["time_source"]).group(1))
        timing = {"source": "harness", "wall": {"median_us": e["median_us"]}, "samples": runs,
                  "cold": False, "copies": 1}
        if e.get("device_us"):
            timing["device"] = {"median_us": e["device_us"]}
        src = e["power"]["source"]
        power = None
        if src.startswith("measured"):
            power = {"watts": e["power"]["watts"], "source": "nvml" if gpu else "rapl",
                     "detail": src.split(": ", 1)[1]}
        secs = e["median_us"] * 1e-6
        out.append(record(
            layer_ref(layers, e["layer"]), b, e["batch"], m["cpu_threads"] if b.startswith("cpu-") else 1,
            machine, tool, time,
            isa=m["isa"] if b.startswith("cpu-") else None,
            detail=e["detail"],
            adapter=adapter if gpu else None,
            timing=timing,
            work={"entries": round(e["entries_per_s"] * secs), "macs": e["macs"], "bytes_read": e["bytes_read"]},
            check={"max_abs_err": c["max_abs_err"], "bound": 0.0, "exact": c["exact"], "ok": c["ok"]},
            power=power,
            bandwidth=None if gpu else bandwidth,
        ))
    # `eie measure` of the GPU backends (a longer budget than the report's, and what summary.md cited):
    # later in the file, so these supersede the report's GPU rows. They carry no power (NVML was read by the
    # report only).
    for b in (1, 64):
        try:
            meas = json.load(open(f"{folder}/measure-b{b}.json"))
        except FileNotFoundError:
            continue
        for row in meas["rows"]:
            c = checks[(row["layer"], row["backend"], row["batch"])]
            timing = {"source": "harness", "wall": {"median_us": row["median_us"]}, "samples": row["runs"],
                      "cold": row["cold"], "copies": row["copies"]}
            if row.get("device_us"):
                timing["device"] = {"median_us": row["device_us"]}
            secs = row["median_us"] * 1e-6
            out.append(record(
                layer_ref(layers, row["layer"]), row["backend"], row["batch"], 1, machine, tool, time,
                detail=row["isa"], adapter=adapter, timing=timing,
                work={"entries": round(row["entries_per_s"] * secs), "macs": row["macs"],
                      "bytes_read": row["bytes_read"]},
                check={"max_abs_err": row["max_abs_err"], "bound": 0.0, "exact": row["exact"], "ok": c["ok"]},
            ))
    try:
        libs = json.load(open(f"{folder}/gpu-libs.json"))
    except FileNotFoundError:
        libs = {"rows": []}
    cuda = dict(adapter, backend="cuda", driver=libs.get("library", ""))
    for row in libs["rows"]:
        if "us_per_call" in row:
            out.append(torch_record(row, layers, machine, cuda, tool, time, libs.get("library", "PyTorch")))
    return out


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    mg = sub.add_parser("migrate")
    mg.add_argument("folder")
    mg.add_argument("--layers", required=True, help="`eie layers --format json` output")
    mg.add_argument("--commit", required=True)
    mg.add_argument("--date", required=True)
    args = ap.parse_args()
    layers = {l["name"]: l for l in json.load(open(args.layers))}
    for r in migrate(args.folder, layers, args.commit, args.date):
        print(json.dumps(r))


if __name__ == "__main__":
    sys.exit(main())
