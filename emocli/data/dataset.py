"""The in-memory dataset (one uint8 array) and its compact on-disk cache."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emocli.data.labels import EMOTIONS, SPLITS
from emocli.errors import EmocliError
from emocli.fileio import atomic_path

CACHE_FORMAT = "emocli-dataset-1"


@dataclass
class Dataset:
    """All images of a dataset as one (N, 48, 48) uint8 array, with labels and split codes."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    source: str
    checksum: str = ""
    report: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def has_split(self, name: str) -> bool:
        return bool(np.any(self.splits == SPLITS.index(name)))

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of one split (train, val or test)."""
        if name not in SPLITS:
            raise EmocliError(f"unknown split {name!r}: expected one of {', '.join(SPLITS)}")
        mask = self.splits == SPLITS.index(name)
        return self.images[mask], self.labels[mask]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per class per split, present splits only, in FER2013 order."""
        out = {}
        for code, name in enumerate(SPLITS):
            labels = self.labels[self.splits == code]
            if len(labels):
                per_class = np.bincount(labels, minlength=len(EMOTIONS))
                out[name] = {e: int(n) for e, n in zip(EMOTIONS, per_class)}
        return out

    def save(self, path: str | Path) -> None:
        """Write the cache atomically (uncompressed .npz: it loads in well under a second)."""
        meta = {"format": CACHE_FORMAT, "source": self.source, "checksum": self.checksum,
                "report": self.report}
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, images=self.images, labels=self.labels, splits=self.splits,
                     meta=np.array(json.dumps(meta)))

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Read a cache written by `save`; anything else is a clear error."""
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                if meta.get("format") != CACHE_FORMAT:
                    raise KeyError("format")
                data = cls(f["images"], f["labels"].astype(np.int64), f["splits"],
                           meta["source"], meta["checksum"], meta.get("report", {}))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError):
            raise EmocliError(f"{path}: not an emocli dataset cache") from None
        if data.images.ndim != 3 or len(data.images) != len(data.labels):
            raise EmocliError(f"{path}: damaged emocli dataset cache")
        return data
