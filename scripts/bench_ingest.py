#!/usr/bin/env python3
"""Ingest throughput: `webeval eval` (native CLI) vs pandas.read_csv on the same CSV.

    python3 scripts/bench_ingest.py [--mb 1000] [--bin target/release/webeval] [--dir /tmp]

Generates (once, seeded) a binary-classification predictions CSV of about --mb megabytes
(label, pred, score, weight), then times pandas.read_csv alone and the full webeval
evaluation (parse + metrics), best of --repeat runs. Prints one JSON line with MB/s.
"""
import argparse
import json
import os
import subprocess
import time

import numpy as np


def generate(path, mb, seed=7):
    rng = np.random.default_rng(seed)
    target = mb * 1_000_000
    with open(path, "w") as f:
        f.write("label,pred,score,weight\n")
        written = 0
        while written < target:
            n = 200_000
            y = rng.integers(0, 2, n)
            s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(6)
            p = (s > 0.5).astype(int)
            w = rng.integers(1, 4, n)
            block = "\n".join(f"{a},{b},{c},{d}" for a, b, c, d in zip(y, p, s, w)) + "\n"
            f.write(block)
            written += len(block)


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--bin", default="target/release/webeval")
    ap.add_argument("--dir", default="/tmp")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    path = os.path.join(a.dir, f"webeval_ingest_{a.mb}mb.csv")
    if not os.path.exists(path):
        generate(path, a.mb)
    size = os.path.getsize(path) / 1e6
    out = {"file_mb": round(size, 1)}
    try:
        import pandas as pd

        out["pandas_read_csv_s"] = best(lambda: pd.read_csv(path), a.repeat)
        out["pandas_mb_s"] = size / out["pandas_read_csv_s"]
    except ImportError:
        out["pandas"] = "not installed"
    cmd = [a.bin, "eval", path, "--format", "json"]
    out["webeval_s"] = best(lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL), a.repeat)
    out["webeval_mb_s"] = size / out["webeval_s"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
