"""Training throughput on the same network and batch size, measured side by side:

(a) emocli's loop in float32: the dataset as one uint8 tensor, batched augmentation;
(a') the same loop under bfloat16 autocast (`--precision bf16`);
(b) the tutorial pipeline: torchvision ImageFolder over extracted JPEGs, per-sample
    RandomHorizontalFlip/RandomAffine/ToTensor/Normalize/RandomErasing, a DataLoader;
(c) forward+backward+step alone on one fixed batch in float32 (the ceiling).
Targets: (a) >= 3x (b) and (a) >= 85% of (c); (a') about 2x (a) on a CPU with AVX512-BF16.
Then the same short recipe trained in fp32 and in bf16, with PublicTest accuracy for each, so
that the speed is seen not to cost accuracy.

With --levers, instead: the levers on an epoch's cost (issue 25), each changed alone against
(a) and measured interleaved with it on the same images: the batch size, channels-last off,
augmentation off, the light augmentation, mixup, the weight average, torch.compile (its compile
time apart), a teacher (the bundled ensemble, plain and flip-averaged), and the ceiling of a
network on 40-px crops against 48 px.

Run: python benchmarks/train_speed.py [--arch vgg] [--batches 30] [--recipe-epochs 3]
     python benchmarks/train_speed.py --levers [--arch vgg] [--batches 20] [--repeats 2]
                                      [--precision bf16]
"""

import argparse
import statistics
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import FER_ZIP
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from emocli.data.readers import read_source
from emocli.models import create_model
from emocli.train.trainer import TrainConfig, Trainer


def emocli_loop(data, cfg: TrainConfig, run_dir: Path, precision: str = "fp32",
                trainer_class: type[Trainer] = Trainer) -> float:
    trainer = trainer_class(replace(cfg, precision=precision), data, run_dir)
    tic = time.perf_counter()
    trainer._train_epoch(0)
    return len(trainer.y_train) / (time.perf_counter() - tic)


class _Contiguous(Trainer):
    """The loop with the network and its batches in the default (NCHW) memory format."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = self.model.to(memory_format=torch.contiguous_format)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.contiguous_format


class _Compiled(Trainer):
    """The loop with the network under torch.compile (inductor, C++ on the CPU)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model = torch.compile(self.model)


LEVERS = {  # changes to the baseline's TrainConfig, each alone
    "batch 128": {"batch_size": 128},
    "batch 256": {"batch_size": 256},
    "augmentation off": {"augment": False},
    "light 0.4": {"light": 0.4},
    "mixup 0.2": {"mixup": 0.2},
    "weight average (ema 0.999)": {"ema": 0.999},
    "teacher: ensemble": {"distill": "ensemble"},
    "teacher: ensemble, flip": {"distill": "ensemble", "distill_tta": "flip"},
}


def tutorial_pipeline(folder: Path, arch: str, batch_size: int, n_images: int) -> float:
    tf = transforms.Compose([
        transforms.Grayscale(), transforms.RandomHorizontalFlip(),
        transforms.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
        transforms.ToTensor(), transforms.Normalize([0.5], [0.25]), transforms.RandomErasing()])
    full = datasets.ImageFolder(str(folder), transform=tf)
    pick = np.random.default_rng(0).choice(len(full), n_images, replace=False)
    loader = DataLoader(Subset(full, pick.tolist()), batch_size=batch_size, shuffle=True)
    model = create_model(arch).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    tic = time.perf_counter()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return n_images / (time.perf_counter() - tic)


def ceiling(arch: str, batch_size: int, batches: int, side: int = 48,
            model: torch.nn.Module | None = None) -> float:
    """Images/s of forward+backward+step alone on one fixed batch of side x side faces."""
    model = (model or create_model(arch)).train().to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch_size, 1, side, side).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 7, (batch_size,))
    for step in range(batches + 2):
        if step == 2:
            tic = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return batches * batch_size / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="vgg")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--recipe-epochs", type=int, default=3)
    parser.add_argument("--recipe-subset", type=int, default=10000)
    parser.add_argument("--levers", action="store_true",
                        help="measure each lever on an epoch's cost instead")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="--levers: the precision of every loop (a teacher runs in it too)")
    args = parser.parse_args()
    if args.levers:
        return levers(args)
    n = args.batch_size * args.batches
    data = read_source(FER_ZIP)
    cfg = TrainConfig(arch=args.arch, optim="sgd", lr=0.01, schedule="constant", epochs=1,
                      batch_size=args.batch_size, subset=n, label_smoothing=0.1).validate()
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(FER_ZIP) as z:
            z.extractall(tmp, [m for m in z.namelist() if m.startswith("train/")])
        results = {"a": [], "a'": [], "b": [], "c": []}
        for _ in range(args.repeats):  # interleaved, so that noise hits all alike
            results["a"].append(emocli_loop(data, cfg, Path(tmp) / "run", "fp32"))
            results["a'"].append(emocli_loop(data, cfg, Path(tmp) / "run", "bf16"))
            results["b"].append(tutorial_pipeline(Path(tmp) / "train", args.arch,
                                                  args.batch_size, n))
            results["c"].append(ceiling(args.arch, args.batch_size, args.batches))
    a, a16, b, c = (statistics.median(results[k]) for k in ("a", "a'", "b", "c"))
    print(f"{args.arch}, batch {args.batch_size}, {n} images, torch threads "
          f"{torch.get_num_threads()}, medians of {args.repeats}:")
    print(f"(a)  emocli training loop, fp32:    {a:7.0f} images/s")
    print(f"(a') emocli training loop, bf16:    {a16:7.0f} images/s")
    print(f"(b)  tutorial ImageFolder pipeline: {b:7.0f} images/s")
    print(f"(c)  forward+backward ceiling:      {c:7.0f} images/s")
    print(f"(a)/(b) = {a / b:.2f}x (target >= 3x); (a)/(c) = {a / c:.0%} (target >= 85%); "
          f"(a')/(a) = {a16 / a:.2f}x")
    recipe_accuracy(data, args)


def ceiling_at(arch: str, side: int, batch_size: int, batches: int) -> float | None:
    """The ceiling of `arch` on side x side faces, its first linear layer resized to fit; None
    for a network that is not a stack of layers ending in a head of linear layers."""
    model = create_model(arch)
    if not (isinstance(model, torch.nn.Sequential) and isinstance(model[-1], torch.nn.Sequential)
            and any(isinstance(m, torch.nn.Linear) for m in model[-1])):
        return None
    with torch.no_grad():
        features = model[:-1](torch.zeros(1, 1, side, side)).flatten(1).shape[1]
    head = model[-1]
    first = next(i for i, m in enumerate(head) if isinstance(m, torch.nn.Linear))
    head[first] = torch.nn.Linear(features, head[first].out_features)
    return ceiling(arch, batch_size, batches, side, model)


def levers(args) -> None:
    """Each lever against the baseline loop, interleaved, medians of `repeats`."""
    n = args.batch_size * args.batches
    data = read_source(FER_ZIP)
    base = TrainConfig(arch=args.arch, optim="sgd", lr=0.01, schedule="constant", epochs=1,
                       batch_size=args.batch_size, subset=n, label_smoothing=0.1,
                       precision=args.precision).validate()
    runs = {"baseline": (base, Trainer), "channels-last off": (base, _Contiguous),
            **{name: (replace(base, **change).validate(), Trainer)
               for name, change in LEVERS.items()}}
    speed: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        tic = time.perf_counter()
        compiled = _Compiled(base, data, Path(tmp) / "compiled")
        compiled._train_epoch(0)  # compiles on the first batches
        compile_s = time.perf_counter() - tic
        speed["torch.compile (warm)"] = []
        for _ in range(args.repeats):
            for name, (cfg, cls) in runs.items():
                speed[name].append(emocli_loop(data, cfg, Path(tmp) / "run", args.precision,
                                               trainer_class=cls))
            tic = time.perf_counter()
            compiled._train_epoch(1)
            speed["torch.compile (warm)"].append(n / (time.perf_counter() - tic))
        sides = {side: [ceiling_at(args.arch, side, args.batch_size, args.batches)
                        for _ in range(args.repeats)] for side in (48, 40)}
    med = {name: statistics.median(v) for name, v in speed.items()}
    print(f"{args.arch}, {n} training images, batch {args.batch_size}, {args.precision}, "
          f"torch threads {torch.get_num_threads()}, medians of {args.repeats} interleaved:")
    print(f"{'lever':34s} {'images/s':>9s} {'x baseline':>11s}")
    for name, value in med.items():
        print(f"{name:34s} {value:9.0f} {value / med['baseline']:10.2f}x")
    print(f"torch.compile: {compile_s:.0f} s to compile and run its first epoch")
    if None not in sides[48]:
        at48, at40 = (statistics.median(sides[side]) for side in (48, 40))
        print(f"ceiling (forward+backward), 48 px: {at48:.0f} images/s; 40 px: {at40:.0f} "
              f"({at40 / at48:.2f}x)")


def recipe_accuracy(data, args) -> None:
    """The same short recipe in fp32 and bf16: PublicTest accuracy and wall time of each."""
    cfg = TrainConfig(arch=args.arch, optim="nesterov", lr=0.02, weight_decay=5e-4,
                      schedule="onecycle", epochs=args.recipe_epochs, batch_size=args.batch_size,
                      subset=args.recipe_subset, label_smoothing=0.1, seed=0).validate()
    print(f"short recipe: {args.arch}, {args.recipe_epochs} epochs on {args.recipe_subset} "
          "training images, nesterov 0.02 one-cycle; best PublicTest accuracy:")
    with tempfile.TemporaryDirectory() as tmp:
        for precision in ("fp32", "bf16"):
            tic = time.perf_counter()
            result = Trainer(replace(cfg, precision=precision), data,
                             Path(tmp) / precision).run()
            print(f"  {precision}: {result.best['val_acc']:.4f} in "
                  f"{time.perf_counter() - tic:.0f} s")


if __name__ == "__main__":
    main()
