"""Churn scorer served by MLServer.

A logistic-regression model whose weights live in model-settings.json, so the
platform ships a working model without a binary artifact or a download at
start-up. Every scored row is appended to a JSON-lines prediction log that the
prediction-log sidecar ships; customer ids are pseudonymised with an HMAC whose
key comes from the model-serving-secrets Secret, so the log never holds a raw id.

Request (V2 inference protocol):
  inputs:  features     FP32  [N, 4]   in the order of feature_names
           customer_id  BYTES [N]      optional
Response:
  outputs: churn_probability  FP64  [N, 1]
           churn_label        INT64 [N, 1]   1 when probability >= threshold
"""

import hashlib
import hmac
import json
import logging
import math
import time
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec, StringCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse

_LOG_MAX_BYTES = 10 * 1024 * 1024
_LOG_BACKUPS = 2


def _sigmoid(z):
    # Split by sign so that exp never overflows.
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def score(rows, intercept, coefficients):
    """Churn probability of each row of features."""
    out = []
    for row in rows:
        if len(row) != len(coefficients):
            raise ValueError(
                "expected %d features per row, got %d" % (len(coefficients), len(row))
            )
        z = intercept + sum(w * float(x) for w, x in zip(coefficients, row))
        out.append(_sigmoid(z))
    return out


def pseudonymise(salt, customer_id):
    """A stable, non-reversible stand-in for a customer id."""
    return hmac.new(salt, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _prediction_logger(path):
    logger = logging.getLogger("churn_scorer.predictions")
    logger.setLevel(logging.INFO)
    # Only the sidecar reads this file; keep the records off the server's stdout.
    logger.propagate = False
    if not logger.handlers:
        handler = RotatingFileHandler(path, maxBytes=_LOG_MAX_BYTES, backupCount=_LOG_BACKUPS)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def _read_salt(path):
    try:
        with open(path, "rb") as f:
            salt = f.read().strip()
    except OSError:
        return None
    return salt or None


class ChurnScorer(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        self._features = list(extra["feature_names"])
        self._intercept = float(extra["intercept"])
        self._coefficients = [float(c) for c in extra["coefficients"]]
        self._threshold = float(extra.get("threshold", 0.5))
        if len(self._features) != len(self._coefficients):
            raise ValueError("feature_names and coefficients differ in length")
        self._log = _prediction_logger(extra["prediction_log"])
        # Without the salt the model still serves; it just leaves ids out of the log.
        self._salt = _read_salt(extra.get("salt_file", ""))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        start = time.perf_counter()
        inputs = {i.name: i for i in payload.inputs}
        if "features" not in inputs:
            raise InferenceError("input 'features' is required")
        rows = NumpyCodec.decode_input(inputs["features"]).reshape(-1, len(self._features))
        try:
            probs = score(rows.tolist(), self._intercept, self._coefficients)
        except ValueError as e:
            raise InferenceError(str(e))
        labels = [1 if p >= self._threshold else 0 for p in probs]

        ids = []
        if "customer_id" in inputs:
            ids = StringCodec.decode_input(inputs["customer_id"])
        self._log_predictions(payload.id, rows.tolist(), probs, labels, ids, start)

        return InferenceResponse(
            id=payload.id,
            model_name=self.name,
            model_version=self.version,
            outputs=[
                NumpyCodec.encode_output(
                    name="churn_probability",
                    payload=np.asarray(probs, dtype=np.float64).reshape(-1, 1),
                ),
                NumpyCodec.encode_output(
                    name="churn_label",
                    payload=np.asarray(labels, dtype=np.int64).reshape(-1, 1),
                ),
            ],
        )

    def _log_predictions(self, request_id, rows, probs, labels, ids, start):
        latency_ms = round((time.perf_counter() - start) * 1000.0, 3)
        ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        for i, (row, p, label) in enumerate(zip(rows, probs, labels)):
            record = {
                "ts": ts,
                "model": self.name,
                "version": self.version,
                "request_id": request_id,
                "features": dict(zip(self._features, row)),
                "churn_probability": round(p, 6),
                "churn_label": label,
                "latency_ms": latency_ms,
            }
            if self._salt is not None and i < len(ids):
                record["customer"] = pseudonymise(self._salt, ids[i])
            self._log.info(json.dumps(record, sort_keys=True))
