"""scikit-learn side of the metrics benchmark: the metric set of webeval's report, on the
same generated predictions (benches/gen.py) held as numpy arrays.

    python3 benches/sklearn_metrics.py ROWS CLASSES CI_REPLICATES [MEASURED_REPLICATES]

The bootstrap recomputes every scalar metric on resampled rows; at large sizes it is timed on
MEASURED_REPLICATES replicates and scaled linearly to CI_REPLICATES (replicates are
independent, equal work). MEASURED_REPLICATES = 0 (the 10-class case at 10^7 rows, where one
replicate takes ~6 min on the bench machine) times no replicate: one replicate is estimated as
what it consists of, each part measured in this run: drawing and gathering one resample of the
rows, plus the point estimate's own pass of the same scalar metrics over the same number of
rows (`scalars`, timed inside `full`). Wall and CPU seconds are both reported, scaled alike.
Prints one JSON line.
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
from sklearn import metrics as M
from sklearn.calibration import calibration_curve

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import gen  # noqa: E402

warnings.filterwarnings("ignore")


def ece(conf, correct, bins=10):
    prob_true, prob_pred = calibration_curve(correct, conf, n_bins=bins, strategy="uniform")
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    counts = counts[counts > 0]
    gaps = np.abs(prob_true - prob_pred)
    return float(np.sum(gaps * counts) / counts.sum()), float(gaps.max())


def label_metrics(y, pred, labels, positive):
    out = {
        "accuracy_score": M.accuracy_score(y, pred),
        "balanced_accuracy_score": M.balanced_accuracy_score(y, pred),
        "balanced_accuracy_score@adjusted": M.balanced_accuracy_score(y, pred, adjusted=True),
        "matthews_corrcoef": M.matthews_corrcoef(y, pred),
        "cohen_kappa_score": M.cohen_kappa_score(y, pred),
        "cohen_kappa_score@linear": M.cohen_kappa_score(y, pred, weights="linear"),
        "cohen_kappa_score@quadratic": M.cohen_kappa_score(y, pred, weights="quadratic"),
        "hamming_loss": M.hamming_loss(y, pred),
        "zero_one_loss": M.zero_one_loss(y, pred),
    }
    for avg in ["macro", "micro", "weighted"] + (["binary"] if positive else []):
        key = "" if avg == "binary" else "@" + avg
        p, r, f, _ = M.precision_recall_fscore_support(y, pred, average=avg, zero_division=np.nan)
        out["precision_score" + key], out["recall_score" + key], out["f1_score" + key] = p, r, f
        out["jaccard_score" + key] = M.jaccard_score(y, pred, average=avg)
        for beta in (0.5, 2):
            name = f"fbeta_score{key},beta={beta}" if key else f"fbeta_score@beta={beta}"
            out[name] = M.fbeta_score(y, pred, beta=beta, average=avg)
    return out


def binary_scores(y, s):
    out = {
        "roc_auc_score": M.roc_auc_score(y, s),
        "roc_auc_score@max_fpr=0.1": M.roc_auc_score(y, s, max_fpr=0.1),
        "average_precision_score": M.average_precision_score(y, s),
        "log_loss": M.log_loss(y, s),
        "brier_score_loss": M.brier_score_loss(y, s),
    }
    out["expected_calibration_error"], out["maximum_calibration_error"] = ece(s, y)
    return out


def multi_scores(y, P, k):
    onehot = np.eye(k, dtype=np.int8)[y]
    top = P.max(axis=1)
    out = {
        "roc_auc_score@macro": M.roc_auc_score(y, P, multi_class="ovr", average="macro"),
        "roc_auc_score@weighted": M.roc_auc_score(y, P, multi_class="ovr", average="weighted"),
        "roc_auc_score@micro": M.roc_auc_score(onehot, P, average="micro"),
        "roc_auc_score@ovo": M.roc_auc_score(y, P, multi_class="ovo", average="macro"),
        "roc_auc_score@ovo,weighted": M.roc_auc_score(y, P, multi_class="ovo", average="weighted"),
        "average_precision_score@macro": M.average_precision_score(onehot, P, average="macro"),
        "average_precision_score@micro": M.average_precision_score(onehot, P, average="micro"),
        "average_precision_score@weighted": M.average_precision_score(onehot, P, average="weighted"),
        "log_loss": M.log_loss(y, P),
        "brier_score_loss": M.brier_score_loss(y, P, labels=list(range(k))),
    }
    for kk in (2, 3, 5):
        out[f"top_k_accuracy_score@k={kk}"] = M.top_k_accuracy_score(y, P, k=kk, labels=list(range(k)))
    out["expected_calibration_error"], out["maximum_calibration_error"] = ece(top, (P.argmax(axis=1) == y).astype(int))
    return out


def scalars(y, S, k):
    if k == 2:
        pred = (S >= 0.5).astype(np.int32)
        return {**label_metrics(y, pred, [0, 1], True), **binary_scores(y, S)}
    pred = S.argmax(axis=1)
    return {**label_metrics(y, pred, list(range(k)), False), **multi_scores(y, S, k)}


def full(y, S, k):
    """Everything but the intervals: scalars, per-class table, confusion matrix, curves.
    Also returns the [wall, CPU] seconds the scalars took."""
    t = clock()
    out = scalars(y, S, k)
    t_scalars = clock() - t
    pred = (S >= 0.5).astype(np.int32) if k == 2 else S.argmax(axis=1)
    out["confusion_matrix"] = M.confusion_matrix(y, pred).tolist()
    for how in ("all", "pred", "true"):
        out[f"confusion_matrix@normalize={how}"] = M.confusion_matrix(y, pred, normalize=how).tolist()
    M.precision_recall_fscore_support(y, pred, average=None, zero_division=np.nan)
    M.multilabel_confusion_matrix(y, pred)
    cols = [(y, S)] if k == 2 else [((y == c).astype(int), S[:, c]) for c in range(k)]
    for yc, sc in cols:
        fpr, tpr, thr = M.roc_curve(yc, sc)
        prec, rec, thr2 = M.precision_recall_curve(yc, sc)
        if k == 2:
            M.det_curve(yc, sc)
            f1 = 2 * prec * rec / np.maximum(prec + rec, 1e-300)
            out["best_f1_threshold"] = float(thr2[np.argmax(f1[:-1])])
            out["youden_threshold"] = float(thr[np.argmax(tpr - fpr)])
    return out, t_scalars


def clock():
    """[wall, CPU] seconds: the machine is shared, so wall time includes waiting for a core."""
    return np.array([time.perf_counter(), time.process_time()])


def main():
    rows, classes, replicates = (int(a) for a in sys.argv[1:4])
    measured = int(sys.argv[4]) if len(sys.argv) > 4 else replicates
    measured = min(measured, replicates)
    y, S = gen.binary(rows) if classes == 2 else gen.multiclass(rows, classes)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = clock()
    report, t_scalars = full(y, S, classes)
    t_point = clock() - t
    rng = np.random.default_rng(0x5EED)
    keys = [k for k, v in report.items() if isinstance(v, float)]
    samples = {k: [] for k in keys}
    t = clock()
    for _ in range(measured):
        idx = rng.integers(0, rows, rows)
        m = scalars(y[idx], S[idx], classes)
        for k in keys:
            if k in m:
                samples[k].append(m[k])
    t_boot = clock() - t
    if measured:
        t_replicate = t_boot / measured
        estimate = None
    else:
        t = clock()
        idx = rng.integers(0, rows, rows)
        y[idx], S[idx]
        t_gather = clock() - t
        t_replicate = t_gather + t_scalars
        estimate = {"resample_seconds": t_gather[0], "scalars_seconds": t_scalars[0]}
    t_ci = t_replicate * replicates
    print(json.dumps({
        "rows": rows, "classes": classes, "ci_replicates": replicates, "ci_measured_replicates": measured,
        "seconds": t_point[0] + t_ci[0], "seconds_point": t_point[0], "seconds_ci": t_ci[0], "replicate_estimate": estimate,
        "cpu_seconds": t_point[1] + t_ci[1],
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "rss_after_data_bytes": rss_data,
        "metrics": {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in report.items()},
    }))


if __name__ == "__main__":
    main()
