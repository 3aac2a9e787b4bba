"""Importing a source into the emocli home and finding the dataset a command should use."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from emocli.data.dataset import Dataset
from emocli.data.labels import SPLITS
from emocli.data.readers import read_source
from emocli.errors import EmocliError, OptionError
from emocli.home import home, read_settings, update_settings
from emocli.outputs import Output, check_outputs


def dataset_path(source: str | Path | None = None) -> str:
    """What `--data` names: the source as given, or (None) the imported default cache."""
    if source is not None:
        return str(source)
    default = read_settings().get("default_dataset")
    if not default:
        raise OptionError("data", "not given, and no default dataset has been imported (emocli data import SOURCE)")
    if not Path(default).exists():
        raise OptionError("data", f"not given, and the default dataset {default} is gone "
                          "(emocli data import SOURCE)")
    return default


def load_dataset(source: str | Path | None = None, val_fraction: float = 0.1,
                 seed: int = 0) -> Dataset:
    """The dataset named by `--data`: a raw source, a cache file, or (None) the default one."""
    if source is None:
        return Dataset.load(dataset_path())
    return with_val_split(read_source(source), val_fraction, seed)


def with_val_split(data: Dataset, val_fraction: float, seed: int) -> Dataset:
    """Carve a stratified, seeded val split out of train when the source has none."""
    if not 0 <= val_fraction < 1:
        raise OptionError("val_fraction", f"must be in [0, 1), got {val_fraction}")
    if data.has_split("val") or not data.has_split("train") or val_fraction == 0:
        return data
    train_idx = np.flatnonzero(data.splits == SPLITS.index("train"))
    labels = data.labels[train_idx]
    try:
        _, val_idx = train_test_split(train_idx, test_size=val_fraction, random_state=seed,
                                      stratify=labels)
    except ValueError:  # a class too small to stratify, or too few images: split plainly
        _, val_idx = train_test_split(train_idx, test_size=val_fraction, random_state=seed)
    splits = data.splits.copy()
    splits[val_idx] = SPLITS.index("val")
    report = data.report | {"val_from_train": int(len(val_idx)), "val_seed": seed}
    return Dataset(data.images, data.labels, splits, data.source, data.checksum, report)


def import_dataset(source: str | Path, val_fraction: float = 0.1, seed: int = 0,
                   make_default: bool = True) -> tuple[Dataset, Path]:
    """Read a source, write its cache under the emocli home, and make it the default."""
    check_outputs([source], [Output(home() / "datasets", "folder")])  # before reading it all
    data = load_dataset(source, val_fraction, seed)
    if len(data) == 0:
        raise EmocliError(f"{source}: the dataset is empty")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(source).stem) or "dataset"
    path = home() / "datasets" / f"{stem}-{data.checksum[:12]}.npz"
    data.save(path)
    if make_default:
        update_settings(default_dataset=str(path.resolve()))
    return data, path
