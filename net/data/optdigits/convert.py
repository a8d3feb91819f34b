"""Converts scikit-learn's digits.csv.gz into digits.bin (see README.md).

Usage: python3 convert.py PATH/TO/digits.csv.gz > digits.bin
Each of the 1,797 CSV rows (64 pixel counts 0..16, then the label 0..9) becomes 65 bytes, in file order.
"""
import gzip
import sys

out = bytearray()
with gzip.open(sys.argv[1], "rt") as f:
    for line in f:
        values = [int(float(v)) for v in line.strip().split(",")]
        assert len(values) == 65 and all(0 <= v <= 16 for v in values[:64]) and 0 <= values[64] <= 9
        out.extend(values)
sys.stdout.buffer.write(bytes(out))
