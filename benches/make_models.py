"""The inference benchmark's models (onnx.helper + seeded numpy weights; the tree ensemble by
scikit-learn + skl2onnx on the digits dataset). Writes benches/models/*.onnx (ignored by git:
rerun this script; it is deterministic) and benches/models/models.json (input name and per-sample
shape of each; the batch dimension is symbolic), plus the single-MatMul models of the WebGPU
bench's GEMM sizes, listed in benches/models/gemm.json.

    python3 benches/make_models.py
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper as h, numpy_helper as nh

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
rng = np.random.default_rng(7)


def w(name, *shape, scale=None):
    scale = scale or (1.0 / np.sqrt(np.prod(shape[1:]) if len(shape) > 1 else shape[0]))
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def save(name, nodes, inits, x_shape, y_shape, x_name="x"):
    g = h.make_graph(nodes, name, [h.make_tensor_value_info(x_name, TensorProto.FLOAT, ["N", *x_shape])],
                     [h.make_tensor_value_info("y", TensorProto.FLOAT, ["N", *y_shape])], inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], producer_name="webeval-bench")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(OUT, f"{name}.onnx"))
    return {"file": f"{name}.onnx", "input": x_name, "shape": list(x_shape)}


def mlp():
    dims = [784, 512, 512, 10]
    nodes, inits, x = [], [], "x"
    for i in range(3):
        inits += [w(f"W{i}", dims[i + 1], dims[i]), w(f"b{i}", dims[i + 1], scale=0.01)]
        out = "y" if i == 2 else f"h{i}"
        nodes.append(h.make_node("Gemm", [x, f"W{i}", f"b{i}"], [out if i == 2 else f"g{i}"], transB=1))
        if i < 2:
            nodes.append(h.make_node("Relu", [f"g{i}"], [out]))
        x = out
    return save("mlp_784_512_512_10", nodes, inits, [784], [10])


def cnn():
    inits = [w("c1", 16, 1, 3, 3), w("c1b", 16, scale=0.01), w("c2", 32, 16, 3, 3), w("c2b", 32, scale=0.01),
             w("fc", 10, 32 * 7 * 7), w("fcb", 10, scale=0.01)]
    nodes = [
        h.make_node("Conv", ["x", "c1", "c1b"], ["a1"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["a1"], ["r1"]),
        h.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Conv", ["p1", "c2", "c2b"], ["a2"], pads=[1, 1, 1, 1]), h.make_node("Relu", ["a2"], ["r2"]),
        h.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        h.make_node("Flatten", ["p2"], ["f"], axis=1),
        h.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    return save("cnn_small", nodes, inits, [1, 28, 28], [10])


def lstm():
    seq, inp, hid = 32, 64, 128
    inits = [w("W", 1, 4 * hid, inp), w("R", 1, 4 * hid, hid), w("B", 1, 8 * hid, scale=0.01),
             w("fc", 10, hid), w("fcb", 10, scale=0.01), nh.from_array(np.array([1, 0, 2], np.int64), "perm_unused")]
    inits = inits[:-1]
    nodes = [
        h.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),  # batch-first input -> [seq, N, inp]
        h.make_node("LSTM", ["xt", "W", "R", "B"], ["", "Y_h"], hidden_size=hid),
        h.make_node("Squeeze", ["Y_h", "axes0"], ["last"]),
        h.make_node("Gemm", ["last", "fc", "fcb"], ["y"], transB=1),
    ]
    inits.append(nh.from_array(np.array([0], np.int64), "axes0"))
    return save("lstm_32x64_h128", nodes, inits, [seq, inp], [10])


# The GEMM sizes of the WebGPU bench (M x N x K): one MatMul of the input [M, K] by a constant
# [K, N]; M is the batch, so the same file serves every M.
GEMM_SIZES = [(1, 1024, 1024), (64, 64, 64), (256, 256, 256), (256, 512, 784), (512, 512, 512), (1024, 1024, 1024),
              # N = 10, a classifier's output: a linear model on 784 pixels at batch 1, and the MLP's last
              # layer at batch 256 (the 16-wide tile)
              (1, 10, 784), (256, 10, 512)]


def matmul(n, k):
    return save(f"matmul_k{k}_n{n}", [h.make_node("MatMul", ["x", "B"], ["y"])], [w("B", k, n)], [k], [n])


def trees():
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from skl2onnx import to_onnx

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    clf = RandomForestClassifier(n_estimators=100, max_depth=10, random_state=0).fit(X, y)
    m = to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(m, os.path.join(OUT, "forest_digits_100.onnx"))
    return {"file": "forest_digits_100.onnx", "input": m.graph.input[0].name, "shape": [64]}


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    models = {"mlp": mlp(), "cnn": cnn(), "lstm": lstm(), "trees": trees()}
    with open(os.path.join(OUT, "models.json"), "w") as f:
        json.dump(models, f, indent=2)
    gemm = [{"m": m, "n": n, "k": k, **matmul(n, k)} for m, n, k in GEMM_SIZES]
    with open(os.path.join(OUT, "gemm.json"), "w") as f:
        json.dump(gemm, f, indent=2)
    print(json.dumps(models))
