"""Native speed of webeval's CPU runtime against onnxruntime (Python, CPU EP, one thread)
on the issue's benchmark models: MLP 784-512-512-10, a small CNN (28x28), an LSTM and a
random-forest tree ensemble, at batch 1 and 256. Writes docs/runtime-bench-native.md.

Usage: cargo build --release --bin webeval && python3 scripts/bench_runtime.py [WEBEVAL_BIN]
Both sides time only the model calls (webeval: the `speed` block of `webeval run`,
onnxruntime: InferenceSession.run, which adds Python call overhead at batch 1).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "target", "bench-models")
ROWS = 1024
rng = np.random.default_rng(0)


def init(name, a):
    return numpy_helper.from_array(np.asarray(a), name)


def w(*shape):
    return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)


def model(nodes, inp, out, inits):
    g = helper.make_graph(nodes, "bench", [inp], [out], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def mlp():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 784])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "w3", "b3"], ["l"], transB=1),
        helper.make_node("Softmax", ["l"], ["y"], axis=-1),
    ]
    inits = [init("w1", w(512, 784)), init("b1", w(512)), init("w2", w(512, 512)), init("b2", w(512)), init("w3", w(10, 512)), init("b3", w(10))]
    return model(nodes, x, y, inits), 784


def cnn():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("MaxPool", ["b"], ["c"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["c", "c2", "c2b"], ["d"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["d"], ["e"]),
        helper.make_node("MaxPool", ["e"], ["f"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["f"], ["g"]),
        helper.make_node("Gemm", ["g", "fw", "fb"], ["l"], transB=1),
        helper.make_node("Softmax", ["l"], ["y"], axis=-1),
    ]
    inits = [init("c1", w(16, 1, 3, 3)), init("c1b", w(16)), init("c2", w(32, 16, 3, 3)), init("c2b", w(32)), init("fw", w(10, 32 * 7 * 7)), init("fb", w(10))]
    return model(nodes, x, y, inits), 784


def lstm():
    seq, feat, hid = 16, 32, 64
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", seq * feat])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["t", "W", "R", "B"], ["Y", "Yh"], hidden_size=hid),
        helper.make_node("Squeeze", ["Yh", "ax"], ["h"]),
        helper.make_node("Gemm", ["h", "fw", "fb"], ["l"], transB=1),
        helper.make_node("Softmax", ["l"], ["y"], axis=-1),
    ]
    inits = [
        init("shape", np.array([-1, seq, feat], dtype=np.int64)), init("W", w(1, 4 * hid, feat)), init("R", w(1, 4 * hid, hid)),
        init("B", w(1, 8 * hid)), init("ax", np.array([0], dtype=np.int64)), init("fw", w(10, hid)), init("fb", w(10)),
    ]
    return model(nodes, x, y, inits), seq * feat


def trees():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx

    X, y = make_classification(n_samples=2000, n_features=30, n_informative=10, n_classes=3, random_state=0)
    clf = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0).fit(X, y)
    m = to_onnx(clf, X[:1].astype(np.float32), options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    return m, 30


def ort_rows_per_s(data, x, batch):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    shape = [d if isinstance(d, int) else -1 for d in sess.get_inputs()[0].shape]
    batches = [x[i : i + batch].reshape([-1] + shape[1:]) for i in range(0, len(x), batch)]
    for b in batches[:3]:
        sess.run(None, {name: b})
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        for b in batches:
            sess.run(None, {name: b})
        best = max(best, len(x) / (time.perf_counter() - t))
    return best


def webeval_rows_per_s(binary, model_path, csv_path, batch):
    best = 0.0
    for _ in range(3):
        r = subprocess.run([binary, "run", model_path, csv_path, "--batch-size", str(batch), "--out", os.devnull], capture_output=True, text=True, check=True)
        best = max(best, json.loads(r.stdout)["throughput_rows_per_s"])
    return best


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "webeval")
    os.makedirs(OUT, exist_ok=True)
    lines = ["# webeval CPU runtime vs onnxruntime (native)", "", "Generated by `scripts/bench_runtime.py`: rows/s (best of 3), "
             f"{ROWS} rows, one thread on both sides (onnxruntime {ort.__version__}, CPU EP, intra_op_num_threads=1).", "",
             "| model | batch | webeval rows/s | onnxruntime rows/s | ratio |", "|---|---|---|---|---|"]
    for name, build in [("mlp_784_512_512_10", mlp), ("cnn_28x28", cnn), ("lstm_16x32_h64", lstm), ("random_forest_100x8", trees)]:
        m, feats = build()
        d = os.path.join(OUT, name)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "model.onnx")
        data = m.SerializeToString()
        with open(path, "wb") as f:
            f.write(data)
        x = rng.standard_normal((ROWS, feats)).astype(np.float32)
        csv = os.path.join(d, "data.csv")
        np.savetxt(csv, x, delimiter=",", header=",".join(f"f{i}" for i in range(feats)), comments="", fmt="%.6g")
        x = np.loadtxt(csv, delimiter=",", skiprows=1, dtype=np.float32)
        for batch in (1, 256):
            we = webeval_rows_per_s(binary, path, csv, batch)
            o = ort_rows_per_s(data, x, batch)
            lines.append(f"| {name} | {batch} | {we:,.0f} | {o:,.0f} | {we / o:.2f}x |")
            print(lines[-1], flush=True)
    with open(os.path.join(ROOT, "docs", "runtime-bench-native.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
