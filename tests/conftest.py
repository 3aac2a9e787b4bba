"""Shared fixtures: the real FER2013 release and media from ../shared, and small real subsets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from emocli.cli import app
from emocli.data.dataset import Dataset
from emocli.data.labels import EMOTIONS
from emocli.data.readers import read_source

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOCLI_SHARED", ROOT.parent / "shared"))
FER_ZIP = SHARED / "datasets" / "fer2013" / "fer2013-train-publictest.zip"
MEDIA = SHARED / "media"

if not FER_ZIP.is_file():
    raise RuntimeError(f"the tests need the shared data beside the checkout: {FER_ZIP}")


class Result:
    def __init__(self, result):
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.exception = result.exception

    def json(self):
        return json.loads(self.stdout)


def run(*args: str) -> Result:
    """Invoke the CLI in-process; stdout and stderr are kept apart."""
    return Result(CliRunner().invoke(app, [str(a) for a in args]))


@pytest.fixture(autouse=True)
def emocli_home(tmp_path, monkeypatch):
    home = tmp_path / "emocli-home"
    monkeypatch.setenv("EMOCLI_HOME", str(home))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    return home


@pytest.fixture(scope="session")
def fer() -> Dataset:
    """The real release, read once."""
    return read_source(FER_ZIP)


def _stratified(labels: np.ndarray, per_class: int, rng) -> np.ndarray:
    return np.concatenate([rng.choice(np.flatnonzero(labels == c),
                                      min(per_class, int((labels == c).sum())), replace=False)
                           for c in range(len(EMOTIONS))])


@pytest.fixture(scope="session")
def small_cache(fer, tmp_path_factory) -> Path:
    """A real subset as an emocli cache: 200 train and 50 val images per class (disgust fewer)."""
    rng = np.random.default_rng(0)
    keep = []
    for code, per_class in ((0, 200), (1, 50)):
        idx = np.flatnonzero(fer.splits == code)
        keep.append(idx[_stratified(fer.labels[idx], per_class, rng)])
    keep = np.sort(np.concatenate(keep))
    small = Dataset(fer.images[keep], fer.labels[keep], fer.splits[keep], "small", "small")
    path = tmp_path_factory.mktemp("data") / "small.npz"
    small.save(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(small_cache, tmp_path_factory) -> Path:
    """A small CNN trained for 3 epochs on real images, through the CLI (~35% val)."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    result = run("train", "--data", small_cache, "--arch", "cnn", "--conv", "3", "--fc", "1",
                 "--optim", "adam", "--lr", "0.001", "--schedule", "constant", "--epochs", "3",
                 "--no-augment", "--seed", "0", "-o", run_dir, "--json")
    assert result.exit_code == 0, result.stderr
    return run_dir


@pytest.fixture(scope="session")
def tiny_model(tiny_run) -> Path:
    return tiny_run / "weights" / "best.pt"
