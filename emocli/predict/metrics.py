"""Classification metrics, all computed by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
)

from emocli.data.labels import EMOTIONS

LABELS = list(range(len(EMOTIONS)))


def summary(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro precision, recall and F1."""
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=LABELS, average="macro",
                                                 zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)), "precision": float(p),
            "recall": float(r), "f1": float(f)}


def report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """The per-class report (sklearn's classification_report) and the confusion matrix."""
    rep = classification_report(y_true, y_pred, labels=LABELS, target_names=list(EMOTIONS),
                                output_dict=True, zero_division=0)
    per_class = {e: {"precision": rep[e]["precision"], "recall": rep[e]["recall"],
                     "f1": rep[e]["f1-score"], "support": int(rep[e]["support"])}
                 for e in EMOTIONS}
    return {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": rep["macro avg"]["f1-score"], "weighted_f1": rep["weighted avg"]["f1-score"],
            "macro": {k: rep["macro avg"][k] for k in ("precision", "recall", "f1-score")},
            "weighted": {k: rep["weighted avg"][k] for k in ("precision", "recall", "f1-score")},
            "per_class": per_class,
            "confusion": confusion_matrix(y_true, y_pred, labels=LABELS).tolist()}
