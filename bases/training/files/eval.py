"""Nightly evaluation of the served churn-scorer model.

Sends a labelled evaluation set to model-serving over the V2 inference protocol
and fails the job (exit 1) when accuracy falls below MIN_ACCURACY, so a
regressed model shows up as a failed Job. Standard library only: the job runs
on a stock Python image.
"""

import csv
import json
import math
import os
import sys
import time
import urllib.error
import urllib.request

FEATURES = ["tenure_months", "monthly_charges", "support_tickets_90d", "days_since_last_login"]


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit("evaluation set %s is empty" % path)
    return rows


def request_body(rows):
    return {
        "id": "nightly-eval",
        "inputs": [
            {
                "name": "features",
                "shape": [len(rows), len(FEATURES)],
                "datatype": "FP32",
                "data": [float(r[f]) for r in rows for f in FEATURES],
            },
            {
                "name": "customer_id",
                "shape": [len(rows)],
                "datatype": "BYTES",
                "data": [r["customer_id"] for r in rows],
            },
        ],
    }


def infer(url, body, attempts, timeout):
    data = json.dumps(body).encode("utf-8")
    for attempt in range(1, attempts + 1):
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.load(resp)
        except (urllib.error.URLError, TimeoutError) as e:
            if attempt == attempts:
                raise SystemExit("inference failed after %d attempts: %s" % (attempts, e))
            time.sleep(min(2 ** attempt, 30))


def output(resp, name):
    for o in resp.get("outputs", []):
        if o.get("name") == name:
            return o["data"]
    raise SystemExit("response has no output %r" % name)


def metrics(labels, probs, threshold):
    tp = fp = tn = fn = 0
    loss = 0.0
    for y, p in zip(labels, probs):
        pred = 1 if p >= threshold else 0
        tp += pred and y
        fp += pred and not y
        tn += (not pred) and (not y)
        fn += (not pred) and y
        p = min(max(p, 1e-7), 1 - 1e-7)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
    n = len(labels)
    return {
        "examples": n,
        "accuracy": round((tp + tn) / n, 4),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "log_loss": round(loss / n, 4),
    }


def main():
    url = os.environ["MODEL_URL"]
    min_accuracy = float(os.environ.get("MIN_ACCURACY", "0.8"))
    threshold = float(os.environ.get("THRESHOLD", "0.5"))
    rows = load(os.environ.get("EVAL_SET", "/opt/eval/eval-set.csv"))
    resp = infer(url, request_body(rows), int(os.environ.get("ATTEMPTS", "5")), 30)
    probs = [float(p) for p in output(resp, "churn_probability")]
    if len(probs) != len(rows):
        raise SystemExit("model returned %d scores for %d rows" % (len(probs), len(rows)))
    result = metrics([int(r["churned"]) for r in rows], probs, threshold)
    result.update({"model": resp.get("model_name"), "version": resp.get("model_version"),
                   "min_accuracy": min_accuracy})
    print(json.dumps(result, sort_keys=True))
    if result["accuracy"] < min_accuracy:
        print("accuracy %.4f is below %.4f" % (result["accuracy"], min_accuracy), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
