"""The training configuration and its defaults: the one place they live (`emocli train` reads
its option defaults from here, without loading torch)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from emocli.data.labels import EMOTIONS
from emocli.errors import EmocliError, OptionError

BALANCE = ("none", "weights", "sampler")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything needed to repeat a run (saved as config.json). The defaults are a sound recipe
    for FER2013: the VGG-style network, SGD with momentum under a one-cycle schedule, label
    smoothing 0.1, augmentation on."""

    arch: str = "vgg"
    arch_args: dict = field(default_factory=dict)
    optim: str = "sgd"
    lr: float | None = None  # None: the optimizer's default
    weight_decay: float | None = None  # None: the optimizer's default
    schedule: str = "onecycle"
    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    subset: int | None = None
    augment: bool = True
    light: float = 0.0  # share of training faces given a random exposure (0: off)
    label_smoothing: float = 0.1
    balance: str = "none"
    device: str = "auto"
    data: str | None = None
    val_fraction: float = 0.1
    init_from: str | None = None  # start from these weights (same architecture)
    precision: str = "auto"  # auto: bf16 where the device computes it natively
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: off)
    mixup: float = 0.0  # mixup's Beta(alpha, alpha) parameter (0: off)
    distill: str | None = None  # teacher: a model spec, as load_model takes (None: off)
    distill_weight: float = 0.5  # share of the loss given to the teacher's probabilities
    distill_tta: str = "none"  # the teacher's test-time augmentation (flip: a stronger teacher)
    data_checksum: str = ""

    def validate(self) -> TrainConfig:
        """Check every field early, so a bad setting fails before any data is read."""
        from emocli.models.bundled import TTA, model_files
        from emocli.models.factory import create_model, resolve_args
        from emocli.models.precision import autocast_dtype
        from emocli.train.optim import get_optimizer, get_schedule
        from emocli.train.trainer import resolve_device

        self.arch_args = resolve_args(self.arch, **self.arch_args)
        create_model(self.arch, **self.arch_args)
        spec = get_optimizer(self.optim)
        get_schedule(self.schedule)
        self.lr = spec.default_lr if self.lr is None else self.lr
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise OptionError("lr", f"must be a positive number, got {self.lr}")
        if self.epochs < 1 or self.batch_size < 1:
            raise OptionError(("epochs", "batch_size"), "must be at least 1")
        if self.subset is not None and self.subset < len(EMOTIONS):
            raise OptionError("subset", f"must be at least {len(EMOTIONS)}")
        if not 0 <= self.label_smoothing < 1:
            raise OptionError("label_smoothing", "must be in [0, 1)")
        if self.balance not in BALANCE:
            raise OptionError("balance", f"must be one of {', '.join(BALANCE)}")
        if not 0 <= self.light <= 1:
            raise OptionError("light", "must be in [0, 1]")
        if not 0 <= self.ema < 1:
            raise OptionError("ema", "must be in [0, 1)")
        if not (math.isfinite(self.mixup) and self.mixup >= 0):
            raise OptionError("mixup", "must be at least 0")
        if not 0 <= self.distill_weight <= 1:
            raise OptionError("distill_weight", "must be in [0, 1]")
        if self.distill_tta not in TTA:
            raise OptionError("distill_tta", f"must be one of {', '.join(TTA)}")
        if self.distill is not None:
            try:
                model_files(self.distill)
            except EmocliError as e:
                raise OptionError("distill", str(e)) from None
        autocast_dtype(self.precision, resolve_device(self.device))
        return self


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The config of an existing run, for --resume."""
    path = Path(run_dir) / "config.json"
    if not (Path(run_dir) / "weights" / "last.pt").is_file() or not path.is_file():
        raise EmocliError(f"{run_dir}: not a training run (no config.json and weights/last.pt)")
    try:
        return TrainConfig(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError):
        raise EmocliError(f"{path}: not an emocli run config") from None
