"""The benchmark's generated predictions, bit-identical to benches/data.mjs and benches/metrics.rs.

Counter-based (a 32-bit integer hash of row and column), so numpy computes it vectorised and
JavaScript and Rust compute the same values row by row: the three tools evaluate the very same
numbers, and their metric values can be compared as a correctness check.
"""
import numpy as np

M32 = np.uint64(0xFFFFFFFF)


def hash32(x):
    """lowbias32 (Chris Wellons) on uint64 arrays holding 32-bit values."""
    x = x & M32
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M32
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M32
    x ^= x >> np.uint64(16)
    return x


def uniform(rows, j):
    i = np.arange(rows, dtype=np.uint64)
    return hash32(i * np.uint64(16) + np.uint64(j) + np.uint64(0x9E3779B9)).astype(np.float64) / 4294967296.0


def binary(rows):
    """(labels int32, positive-class probability float32)."""
    y = (uniform(rows, 0) < 0.4).astype(np.int32)
    u = uniform(rows, 1)
    s = np.where(y == 1, 0.3 + 0.7 * u, 0.7 * u).astype(np.float32)
    return y, s


def multiclass(rows, k=10):
    """(labels int32, probabilities float32 of shape (rows, k)); rows sum to 1."""
    y = np.floor(uniform(rows, 0) * k).astype(np.int32)
    p = np.empty((rows, k), dtype=np.float64)
    for j in range(k):
        p[:, j] = uniform(rows, 1 + j) + np.where(y == j, 0.6, 0.0)
    s = p[:, 0].copy()
    for j in range(1, k):
        s = s + p[:, j]  # left to right, as the other two generators sum
    return y, (p / s[:, None]).astype(np.float32)
