"""onnxruntime (Python, CPU, one thread) side of the inference benchmark.

    python3 benches/ort_infer.py MODEL.onnx INPUT BATCH DIM... -> one JSON line
Same timing rule as benches/native.rs `infer`: warm up, then run for about a second; the
median run time is reported, and the mean CPU time per run (process time: on a shared
machine wall time mostly measures the load).
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

path, name, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
shape = [batch, *(int(d) for d in sys.argv[4:])]
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
x = (np.arange(np.prod(shape), dtype=np.float64) % 17 / 17).astype(np.float32).reshape(shape)
feeds = {name: x}
for _ in range(3):
    sess.run(None, feeds)
times, start, cpu = [], time.perf_counter(), time.process_time()
while (time.perf_counter() - start < 1.0 or len(times) < 5) and len(times) < 100_000:
    t = time.perf_counter()
    sess.run(None, feeds)
    times.append(time.perf_counter() - t)
cpu_s = (time.process_time() - cpu) / len(times)
times.sort()
print(json.dumps({"median_s": times[len(times) // 2], "runs": len(times), "cpu_s_per_run": cpu_s, "onnxruntime": ort.__version__}))
