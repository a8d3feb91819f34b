#!/usr/bin/env python3
"""Fit the batch-1 walk cost models of the CPU EIE kernels (`kernels/src/cpu/eie.rs`) on this core.

Each round runs `eie measure` once per walk, forced with EIE_CPU_EIE_WALK (column, row, window, plane; the
order alternates between rounds), both kernels (cpu-eie-f32, cpu-eie-fixed), one thread, on the
benchmark layers; every output is verified by `measure` before it is timed. Per layer, kernel and walk
the fastest of the rounds' fastest runs is the time. Each walk's cost is then fitted by relative least
squares with non-negative coefficients, on the work counts the records carry:

  column walk  ns = column * non-zero columns + column_entry * entries walked
  row walk     ns = group * groups of 8 rows + row_entry * entries + product * 16 x inputs
  window walk  ns = step * steps + group * groups of L rows + beyond * steps x (inputs - 4096) / 4096
  plane walk   ns = column * non-zero columns + block * non-zero columns x blocks of 64 rows

and printed beside the constants in eie.rs for the ISA level (their prediction over the time: how this
core compares with the one they were fitted on), with the walk each model picks against the fastest of
those the level can pick (AVX-512: column or window; portable: column or row; AVX2: any; the plane
walk's constants, in kernels/src/cpu/eie/plane.rs, are AVX2's).

  taskset -c 0 python3 scripts/fit-walks.py --isa avx2 --rounds 5 --save walks.json
  python3 scripts/fit-walks.py --load walks.json     # refit without measuring (at the saved level)

Needs numpy and scipy (the venv of scripts/cpu-libs.py has both). Pin it to one CPU and keep the machine
otherwise idle: the fit is only as good as the times.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys

WALKS = ["column", "row", "window", "plane"]
KERNELS = ["cpu-eie-f32", "cpu-eie-fixed"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(args):
    times, work = {}, {}
    for r in range(args.rounds):
        for walk in WALKS if r % 2 == 0 else WALKS[::-1]:
            cmd = [args.eie, "measure", "--format", "json", "--budget-ms", str(args.budget_ms),
                   "--threads", "1", "--isa", args.isa]
            for k in KERNELS:
                cmd += ["--backend", k]
            for layer in args.layer:
                cmd += ["--layer", layer]
            p = subprocess.run(cmd, capture_output=True, text=True,
                               env=dict(os.environ, EIE_CPU_EIE_WALK=walk))
            if p.returncode:
                sys.exit(f"{' '.join(cmd)} (EIE_CPU_EIE_WALK={walk}) failed:\n{p.stderr}")
            for rec in json.loads(p.stdout):
                key = f"{walk}|{rec['layer']['name']}|{rec['backend']}"
                if not rec.get("check", {}).get("ok"):
                    sys.exit(f"{key}: not verified: {rec.get('check')}")
                if f"{walk} walk" not in rec.get("detail", ""):
                    sys.exit(f"{key}: the record does not name the forced walk: {rec.get('detail')}")
                times.setdefault(key, []).append(rec["timing"]["wall"]["min_us"] * 1e3)
                work[key] = dict(rec["work"], inputs=rec["layer"]["inputs"],
                                 outputs=rec["layer"]["outputs"])
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    return {"isa": args.isa, "times_ns": times, "work": work}


def counts(walk, kernel, w, lanes):
    """The model's terms for one record, from its work (see `EieData::work` in eie.rs)."""
    act = 4 if kernel.endswith("f32") else 2
    n, b, inputs = w["entries"], w["bytes_read"], w["inputs"]
    if walk == "column":
        cols = (b - 2 * n - inputs * act - 64) / 8
        return [cols, n]
    if walk == "row":
        groups = (b - 2 * n - inputs * act) / 48
        return [groups, n, 16 * inputs]
    if walk == "plane":
        cols = (b - inputs * act - 1.5 * n) / 64
        blocks = -(-w["outputs"] // 64)
        if abs(cols - round(cols)) > 1e-6 or abs(n / 64 - cols * blocks) > 1e-6:
            sys.exit(f"plane work of {kernel} does not match this script's formula (columns {cols})")
        return [cols, n / 64]
    steps = n / lanes
    windows = inputs // lanes + 1
    groups = (b - steps * (2 * lanes + 4) - inputs * act - windows * 2 * lanes * 4) / 4
    if abs(groups - math.ceil(w["outputs"] / lanes)) > 1e-6:
        sys.exit(f"window work of {kernel} does not match this script's formula (groups {groups})")
    return [steps, groups, steps * max(inputs - 4096, 0) / 4096]


FIELDS = {"column": ["column", "column_entry"], "row": ["group", "row_entry", "product"],
          "window": ["step", "group", "beyond"], "plane": ["column", "block"]}


def constants(isa, kernel):
    """The constants eie.rs uses at `isa` for `kernel`: {walk: [coefficients]}."""
    fixed = kernel.endswith("fixed")
    walk = ("WALK_COST_FIXED" if fixed else "WALK_COST_F32") + ("_AVX512" if isa == "avx512" else "")
    window = ("WINDOW_COST_FIXED" if fixed else "WINDOW_COST_F32") + ("" if isa == "avx512" else "_AVX2")
    plane = "PLANE_COST_FIXED_AVX2" if fixed else "PLANE_COST_F32_AVX2"

    def read(path, name, kind):
        src = open(os.path.join(ROOT, path)).read()
        m = re.search(r"const %s: %s = %s \{(.*?)\};" % (name, kind, kind), src, re.S)
        return dict((k, float(v)) for k, v in re.findall(r"(\w+): ([\d.]+)", m.group(1))) if m else None
    eie = "kernels/src/cpu/eie.rs"
    w, v = read(eie, walk, "WalkCost"), read(eie, window, "WindowCost")
    p = read("kernels/src/cpu/eie/plane.rs", plane, "PlaneCost")
    out = {"plane": [p[f] for f in FIELDS["plane"]]} if p and isa == "avx2" else {}
    if w:
        out["column"] = [w[f] for f in FIELDS["column"]]
        out["row"] = [w[f] for f in FIELDS["row"]]
    if v:
        out["window"] = [v[f] for f in FIELDS["window"]]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--eie", default=os.path.join(ROOT, "target/release/eie"))
    ap.add_argument("--isa", default="avx2", choices=["portable", "avx2", "avx512"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--budget-ms", type=int, default=250)
    ap.add_argument("--layer", action="append", default=[],
                    help="a layer (repeatable; default: every benchmark layer and the real FC8)")
    ap.add_argument("--save", help="write the measurements to this JSON file")
    ap.add_argument("--load", help="fit these saved measurements instead of measuring")
    args = ap.parse_args()
    import numpy as np
    from scipy.optimize import nnls

    data = json.load(open(args.load)) if args.load else measure(args)
    if args.save:
        json.dump(data, open(args.save, "w"), indent=1)
    isa = data["isa"]
    if args.load and isa != args.isa:
        print(f"note: {args.load} was measured at {isa}; fitting it at {isa}, not --isa {args.isa}",
              file=sys.stderr)
    lanes = 16 if isa == "avx512" else 8
    T, W = data["times_ns"], data["work"]
    layers = sorted({k.split("|")[1] for k in T})
    # What the kernels can pick at this level (AVX-512: column or window; portable: column or row).
    can = {"avx512": ["column", "window"], "portable": ["column", "row"]}.get(isa, WALKS)

    def pick(m):
        return min((w for w in can if w in m), key=m.get)
    for kernel in KERNELS:
        model = constants(isa, kernel)
        print(f"\n## {kernel} at {isa}: fastest of the rounds, µs; fit and eie.rs's model over the time")
        fits, scale = {}, []
        for walk in WALKS:
            pts = [(counts(walk, kernel, W[f"{walk}|{l}|{kernel}"], lanes), min(T[f"{walk}|{l}|{kernel}"]))
                   for l in layers]
            a = np.array([[c / t for c in cs] for cs, t in pts])
            x, _ = nnls(a, np.ones(len(pts)))
            fits[walk] = x
            print(f"{walk:7s} fit: " + ", ".join(f"{f} {v:.4g}" for f, v in zip(FIELDS[walk], x)))
        print("| layer | " + " | ".join(f"{w} µs (fit, eie.rs)" for w in WALKS) + " | fastest | fit picks | eie.rs picks |")
        print("|---|" + "---:|" * len(WALKS) + "---|---|---|")
        for l in layers:
            t = {w: min(T[f"{w}|{l}|{kernel}"]) for w in WALKS}
            c = {w: counts(w, kernel, W[f"{w}|{l}|{kernel}"], lanes) for w in WALKS}
            fit = {w: float(np.dot(fits[w], c[w])) for w in WALKS}
            cur = {w: float(np.dot(model[w], c[w])) for w in model}
            cells = []
            for w in WALKS:
                m = f"{cur[w] / t[w]:.2f}" if w in cur else "-"
                cells.append(f"{t[w] / 1e3:.1f} ({fit[w] / t[w]:.2f}, {m})")
                if w in cur and w in ("column", "row"):
                    scale.append(cur[w] / t[w])
            print(f"| {l} | " + " | ".join(cells) + f" | {pick(t)} | {pick(fit)} | "
                  + (pick(cur) if cur else "-") + " |")
        if scale:
            k = float(np.median(scale))
            print(f"eie.rs's column and row models over this core's times: median {k:.3f} "
                  f"({min(scale):.2f}-{max(scale):.2f}); the window fit in those units: "
                  + ", ".join(f"{f} {v * k:.4g}" for f, v in zip(FIELDS["window"], fits["window"])))


if __name__ == "__main__":
    main()
