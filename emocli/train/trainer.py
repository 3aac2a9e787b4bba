"""Training: one uint8 tensor in memory, batched augmentation, resumable, repeatable."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from emocli.data.dataset import Dataset
from emocli.data.labels import EMOTIONS
from emocli.data.preprocess import as_batch, fit_normalization, normalize
from emocli.data.store import load_dataset
from emocli.errors import EmocliError, OptionError
from emocli.fileio import write_csv, write_text
from emocli.models.bundled import model_files
from emocli.models.checkpoint import load_checkpoint, load_weights, save_checkpoint
from emocli.models.factory import create_model
from emocli.models.precision import autocast, autocast_dtype
from emocli.outputs import Output, check_outputs
from emocli.predict import metrics
from emocli.runs import next_run_dir
from emocli.train.augment import augment_batch, light_batch
from emocli.train.config import TrainConfig, load_run_config
from emocli.train.optim import create_optimizer, get_schedule


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name not in ("cpu", "cuda"):
        raise OptionError("device", f"must be auto, cpu or cuda, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", "cuda: no CUDA device is available here")
    return torch.device(name)


class Reporter:
    """Progress callbacks; the default reports nothing."""

    def stage(self, message: str) -> None: ...
    def start(self, cfg: TrainConfig, start_epoch: int, steps_per_epoch: int) -> None: ...
    def batch(self, step: int, loss: float, acc: float, images_per_s: float) -> None: ...
    def epoch(self, row: dict) -> None: ...
    def close(self) -> None: ...


@dataclass
class TrainResult:
    run_dir: Path
    rows: list[dict]
    best: dict
    status: str  # finished | diverged | stalled

    @property
    def last(self) -> dict:
        return self.rows[-1]


def _select_subset(labels: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    idx = np.arange(len(labels))
    if n is None or n >= len(labels):
        return idx
    try:
        return np.sort(train_test_split(idx, train_size=n, random_state=seed, stratify=labels)[0])
    except ValueError:
        return np.sort(train_test_split(idx, train_size=n, random_state=seed)[0])


def load_teacher(spec: str, device: torch.device):
    """The teacher of a distillation, in eval mode on the training device."""
    from emocli.predict.loading import load_model

    teacher = load_model(spec, runtime="torch")
    teacher.check_classes()
    return teacher.to(device)


class Trainer:
    """One training run in one run directory."""

    def __init__(self, cfg: TrainConfig, data: Dataset, run_dir: Path,
                 reporter: Reporter | None = None, stop_check=None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.reporter = reporter or Reporter()
        self.stop_check = stop_check  # (rows) -> status string to stop early, or None
        self.device = resolve_device(cfg.device)
        x, y = data.split("train")
        if not len(y):
            raise EmocliError(f"{data.source}: no train split")
        keep = _select_subset(y, cfg.subset, cfg.seed)
        self.x_train, self.y_train = as_batch(x[keep]), torch.from_numpy(y[keep])
        # consistent teaching: the teacher labels the very augmented (and mixed) views the
        # student sees, each step (its probabilities on the clean faces, computed once, taught
        # nothing: docs/model-card.md)
        self.teacher = load_teacher(cfg.distill, self.device) if cfg.distill else None
        xv, yv = data.split("val")
        if not len(yv):
            raise EmocliError(f"{data.source}: no val split (carve one out of train with a val fraction above 0)")
        self.x_val, self.y_val = as_batch(xv), torch.from_numpy(yv)
        self.norm = fit_normalization(self.x_train)
        if self.device.type == "cuda":  # the uint8 images (75 MB) live on the GPU: no copy a step
            self.x_train, self.x_val = self.x_train.to(self.device), self.x_val.to(self.device)
        cfg.data_checksum = data.checksum
        torch.manual_seed(cfg.seed)
        self.model = create_model(cfg.arch, **cfg.arch_args)
        if cfg.init_from:
            self._load_initial_weights(cfg.init_from)
        self.model = self.model.to(self.device)
        if self.device.type == "cpu":  # measured ~15% faster for these nets on the CPU
            self.model = self.model.to(memory_format=torch.channels_last)
        self.autocast = autocast_dtype(cfg.precision, self.device)
        self.ema = (AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema),
                                  use_buffers=True) if cfg.ema else None)
        self.steps = math.ceil(len(self.y_train) / cfg.batch_size)
        self.optimizer = create_optimizer(cfg.optim, self.model.parameters(), cfg.lr,
                                          weight_decay=cfg.weight_decay)
        sched = get_schedule(cfg.schedule)
        self.scheduler = sched.build(self.optimizer, cfg.epochs, self.steps)
        self.per_batch = sched.per_batch
        counts = torch.bincount(self.y_train, minlength=len(EMOTIONS)).float()
        self.class_weights = (counts.sum() / (len(EMOTIONS) * counts.clamp(min=1)))
        self.rows: list[dict] = []
        self.best: dict = {}

    def _load_initial_weights(self, path: str) -> None:
        ckpt = load_checkpoint(path)
        if list(ckpt["classes"]) != list(EMOTIONS):
            raise EmocliError(f"{path}: its classes {list(ckpt['classes'])} differ from "
                              f"FER2013's {list(EMOTIONS)}")
        try:  # arguments that change no weights (dropout) may differ; shapes may not
            if ckpt["arch"] != self.cfg.arch:
                raise RuntimeError
            load_weights(self.model, ckpt["state_dict"])
        except RuntimeError:
            raise OptionError("init_from", f"{path} holds another architecture "
                              f"({ckpt['arch']} {ckpt['arch_args']}); it needs the same") from None

    # -- data -----------------------------------------------------------------------------
    def _normalize(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """uint8 faces to the network's input; with `gen`, a random exposure first for the
        config's share of them."""
        x = x.to(self.device, non_blocking=True)
        if gen is not None and self.cfg.light:
            x = light_batch(x.float().div_(255), gen, self.cfg.light).mul_(255)
        return normalize(x, self.norm).contiguous(memory_format=self._memory_format)

    @property
    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.device.type == "cpu" else torch.contiguous_format

    def _order(self, gen: torch.Generator) -> torch.Tensor:
        n = len(self.y_train)
        if self.cfg.balance == "sampler":
            weights = self.class_weights[self.y_train]
            return torch.multinomial(weights, n, replacement=True, generator=gen)
        return torch.randperm(n, generator=gen)

    # -- loop -----------------------------------------------------------------------------
    def _loss(self, logits: torch.Tensor, y: torch.Tensor, soft: torch.Tensor | None):
        weight = self.class_weights.to(self.device) if self.cfg.balance == "weights" else None
        loss = F.cross_entropy(logits, y, weight=weight, label_smoothing=self.cfg.label_smoothing)
        if soft is None:
            return loss
        share = self.cfg.distill_weight
        return (1 - share) * loss + share * F.cross_entropy(logits, soft)

    def _train_epoch(self, epoch: int) -> dict:
        seed = self.cfg.seed * 1_000_003 + epoch  # per-epoch seeds make resume exact
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        self.model.train()
        order = self._order(gen)
        total_loss, correct, seen, start = 0.0, 0, 0, time.perf_counter()
        for step, lo in enumerate(range(0, len(order), self.cfg.batch_size)):
            idx = order[lo:lo + self.cfg.batch_size]
            y = self.y_train[idx].to(self.device)
            x, soft, mix = self._views(self.x_train[idx], y, gen)
            with autocast(self.autocast, self.device):
                logits = self.model(x).float()  # the loss and its gradient stay in float32
            loss = self._loss(logits, y, soft)
            if mix is not None:
                lam, perm = mix
                loss = lam * loss + (1 - lam) * self._loss(logits, y[perm], soft)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            if self.per_batch:
                self.scheduler.step()
            total_loss += float(loss.detach()) * len(y)
            correct += int((logits.detach().argmax(1) == y).sum())
            seen += len(y)
            self.reporter.batch(step + 1, total_loss / seen, correct / seen,
                                seen / (time.perf_counter() - start))
        return {"train_loss": total_loss / seen, "train_acc": correct / seen}

    def _views(self, faces: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        """The student's augmented (and mixed) batch, the teacher's probabilities for it, and
        the mix. The teacher sees the same geometry and mix but the face before its random
        exposure: it learnt on well-lit faces, so its word on a darkened one is worth less
        (the exposure is what the student has to learn to see through)."""
        x = self._normalize(faces, gen)
        twin = self.teacher is not None and self.cfg.light > 0
        if twin:  # one warp and one mix for both views: stacked as two channels
            x = torch.cat([x, self._normalize(faces)], 1)
        if self.cfg.augment:
            x = augment_batch(x, gen)
        x, mix = self._mixup(x, y, gen)
        if not twin:
            return x, self._teach(x), mix
        return x[:, :1].contiguous(memory_format=self._memory_format), self._teach(x[:, 1:]), mix

    @torch.no_grad()
    def _teach(self, x: torch.Tensor) -> torch.Tensor | None:
        """The teacher's probabilities for a batch as the student sees it (normalised)."""
        if self.teacher is None:
            return None
        pixels = x.float() * self.norm["std"] + self.norm["mean"]
        with autocast(self.autocast, self.device):  # the student's precision: bf16 halves its cost
            proba = self.teacher.proba_pixels(pixels.contiguous(), self.cfg.distill_tta)
        return proba.to(x.device)

    def _mixup(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        """Blend each image with another of the batch; (lambda, partner indices) or None."""
        if not self.cfg.mixup:
            return x, None
        alpha = torch.tensor([self.cfg.mixup, self.cfg.mixup])
        lam = float(torch._sample_dirichlet(alpha, generator=gen)[0])  # Beta(a, a), seeded
        perm = torch.randperm(len(y), generator=gen).to(self.device)
        return lam * x + (1 - lam) * x[perm], (lam, perm)

    @property
    def served(self) -> torch.nn.Module:
        """The weights that are validated and saved: the moving average when there is one."""
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def _validate(self) -> dict:
        model = self.served.eval()
        losses, preds = [], []
        for lo in range(0, len(self.y_val), 512):
            x = self._normalize(self.x_val[lo:lo + 512])
            y = self.y_val[lo:lo + 512].to(self.device)
            logits = model(x)
            losses.append(float(F.cross_entropy(logits, y, reduction="sum")))
            preds.append(logits.argmax(1).cpu())
        m = metrics.summary(self.y_val.numpy(), torch.cat(preds).numpy())
        return {"val_loss": sum(losses) / len(self.y_val), "val_acc": m["accuracy"],
                "val_precision": m["precision"], "val_recall": m["recall"], "val_f1": m["f1"]}

    def meta(self) -> dict:
        return {"arch": self.cfg.arch, "arch_args": dict(self.cfg.arch_args),
                "classes": list(EMOTIONS), "input_size": 48,
                "normalization": self.norm,
                "config": asdict(self.cfg)}

    def _save(self, epoch: int, row: dict) -> None:
        weights = self.run_dir / "weights"
        if not self.best or row["val_acc"] > self.best["val_acc"]:
            self.best = dict(row)
            save_checkpoint(weights / "best.pt", self.served, self.meta() | {"metrics": row})
        state = {"ema": self._ema_state()} if self.ema is not None else {}
        save_checkpoint(weights / "last.pt", self.served, self.meta() | {"metrics": row},
                        epoch=epoch, optimizer=self.optimizer.state_dict(),
                        scheduler=self.scheduler.state_dict(), history=self.rows,
                        best=self.best, **state)
        write_csv(self.run_dir / "metrics.csv", pd.DataFrame(self.rows))

    def _ema_state(self) -> dict:
        """The raw (trained) weights beside the averaged ones that last.pt holds."""
        return {"model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                "n_averaged": int(self.ema.n_averaged)}

    def resume(self) -> int:
        """Restore from last.pt; return the number of epochs already done."""
        ckpt = load_checkpoint(self.run_dir / "weights" / "last.pt")
        if "optimizer" not in ckpt:
            raise EmocliError(f"{self.run_dir}: last.pt holds no training state")
        if self.ema is not None:
            self.model.load_state_dict(ckpt["ema"]["model"])
            self.ema.module.load_state_dict(ckpt["state_dict"])
            self.ema.n_averaged.fill_(ckpt["ema"]["n_averaged"])
        else:
            self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.rows, self.best = list(ckpt["history"]), dict(ckpt["best"])
        return int(ckpt["epoch"])

    def run(self, resume: bool = False) -> TrainResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.run_dir / "config.json", json.dumps(asdict(self.cfg), indent=2) + "\n")
        start = self.resume() if resume else 0
        self.reporter.start(self.cfg, start, self.steps)
        status = "finished"
        try:
            for epoch in range(start, self.cfg.epochs):
                tic = time.perf_counter()
                row = {"epoch": epoch + 1, **self._train_epoch(epoch), **self._validate(),
                       "lr": self.optimizer.param_groups[0]["lr"]}
                if not self.per_batch:
                    self._step_epoch_schedule(row)
                row["seconds"] = round(time.perf_counter() - tic, 3)
                self.rows.append(row)
                self._save(epoch + 1, row)
                self.reporter.epoch(row)
                if not math.isfinite(row["train_loss"]):
                    status = "diverged"
                elif self.stop_check:
                    status = self.stop_check(self.rows) or status
                if status != "finished":
                    break
        finally:
            self.reporter.close()
        return TrainResult(self.run_dir, self.rows, self.best, status)

    def _step_epoch_schedule(self, row: dict) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(row["val_acc"])
        else:
            self.scheduler.step()


def fit(config: TrainConfig | None = None, run_dir: str | Path | None = None, *,
        resume: str | Path | None = None, data: Dataset | None = None,
        reporter: Reporter | None = None, force: bool = False) -> TrainResult:
    """Train a network: `config` (default: TrainConfig()) into `run_dir` (default
    runs/train/exp, exp2, ...), checkpointing every epoch; or, with `resume`, continue the run in
    that folder exactly as it was configured. `data`: a loaded Dataset (default: the config's).
    A `run_dir` that holds a run already is refused unless `force`."""
    if resume is not None:
        cfg, run_dir = load_run_config(resume).validate(), Path(resume)
    else:
        cfg = (config or TrainConfig()).validate()
        run_dir = Path(run_dir) if run_dir is not None else next_run_dir("train")
        done = [p for p in ("config.json", "metrics.csv", "weights") if (run_dir / p).exists()]
        if done and not force:
            raise EmocliError(f"{run_dir}: holds a training run already ({', '.join(done)}); "
                              "continue it with --resume, or replace it with --force")
        teachers = model_files(cfg.distill) if cfg.distill else []
        check_outputs([cfg.data, cfg.init_from, *teachers], [Output(run_dir, "folder")])
    dataset = data or load_dataset(cfg.data, cfg.val_fraction, cfg.seed)
    return Trainer(cfg, dataset, run_dir, reporter).run(resume=resume is not None)
