"""Import of the full FER2013 zip and load of its cache (targets: < 15 s and < 1 s).

Run: python benchmarks/data_speed.py
"""

import tempfile
from pathlib import Path

import torch
from _common import FER_ZIP, median_seconds

from emocli.data.dataset import Dataset
from emocli.data.readers import read_source


def main() -> None:
    print(f"torch threads: {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "fer.npz"
        imported = median_seconds(lambda: read_source(FER_ZIP).save(cache))
        loaded = median_seconds(lambda: Dataset.load(cache), repeats=5)
        n = len(Dataset.load(cache))
        size = cache.stat().st_size / 2**20
    print(f"import of {FER_ZIP.name} ({n} images): median {imported:.2f} s (target < 15 s, "
          f"{15 / imported:.1f}x under)")
    print(f"load of the cache ({size:.0f} MiB): median {loaded:.3f} s (target < 1 s, "
          f"{1 / loaded:.0f}x under)")
    print(f"ratio import / load: {imported / loaded:.0f}x")


if __name__ == "__main__":
    main()
