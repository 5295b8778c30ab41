"""pandas side of the ingest benchmark: pandas.read_csv on the same file (default C engine).

    python3 benches/pandas_ingest.py FILE        -> one JSON line
"""
import json
import resource
import sys
import time

import pandas as pd

t, cpu = time.perf_counter(), time.process_time()
df = pd.read_csv(sys.argv[1])
seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "rows": len(df), "pandas": pd.__version__,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
