"""Evaluation of one or several models on a split, every number computed by scikit-learn."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from emocli.data.dataset import Dataset
from emocli.data.labels import EMOTIONS
from emocli.errors import EmocliError
from emocli.predict import metrics

if TYPE_CHECKING:
    from emocli.predict.loading import Model


@dataclass
class Evaluation:
    model: str
    split: str
    proba: np.ndarray
    labels: np.ndarray
    images_per_s: float

    @property
    def pred(self) -> np.ndarray:
        return self.proba.argmax(1)

    def report(self) -> dict:
        return {"model": self.model, "split": self.split,
                **metrics.report(self.labels, self.pred)}

    def document(self) -> dict:
        """The documented --json shape."""
        rep = self.report()
        keys = ("model", "split", "n", "accuracy", "macro_f1", "weighted_f1", "per_class",
                "confusion")
        return {k: rep[k] for k in keys}

    def predictions(self) -> pd.DataFrame:
        frame = pd.DataFrame({"index": np.arange(len(self.labels)),
                              "true": [EMOTIONS[i] for i in self.labels],
                              "pred": [EMOTIONS[i] for i in self.pred]})
        for i, emotion in enumerate(EMOTIONS):
            frame[emotion] = self.proba[:, i]
        return frame


def default_split(data: Dataset) -> str:
    return "test" if data.has_split("test") else "val"


def evaluate(predictor: Model, data: Dataset, split: str, tta: str = "none",
             batch_size: int = 256) -> Evaluation:
    predictor.check_classes()
    images, labels = data.split(split)
    if not len(labels):
        raise EmocliError(f"{data.source}: the {split} split is empty")
    tic = time.perf_counter()
    proba = predictor.predict_proba(images, tta, batch_size)
    return Evaluation(predictor.name, split, proba, labels,
                      len(labels) / (time.perf_counter() - tic))


def ensemble(evaluations: list[Evaluation]) -> Evaluation:
    """Average the probabilities of several models on the same images."""
    proba = np.mean([e.proba for e in evaluations], axis=0)
    seconds = sum(len(e.labels) / e.images_per_s for e in evaluations)
    return Evaluation("ensemble", evaluations[0].split, proba, evaluations[0].labels,
                      len(proba) / seconds)
