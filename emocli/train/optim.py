"""Registries of optimizers and learning-rate schedules, with per-entry metadata."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.optim import lr_scheduler

from emocli.errors import EmocliError
from emocli.models.names import PLUGIN_GROUPS
from emocli.models.registry import Registry


@dataclass(frozen=True)
class OptimSpec:
    name: str
    build: Callable[..., torch.optim.Optimizer]
    flags: tuple[str, ...]  # which of momentum / nesterov / betas apply
    default_lr: float
    description: str


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    build: Callable[..., object]
    per_batch: bool  # stepped after every batch, else after every epoch
    budget_dependent: bool  # the LR at epoch k depends on the total number of epochs
    description: str


OPTIMIZERS: Registry[OptimSpec] = Registry("optimizer", plugins=PLUGIN_GROUPS["optimizer"])
SCHEDULES: Registry[ScheduleSpec] = Registry("schedule", plugins=PLUGIN_GROUPS["schedule"])


def register_optimizer(name: str, flags: tuple[str, ...], default_lr: float, description: str):
    """Register `build(params, lr, weight_decay, momentum, nesterov)` (a plugin module calls
    this on import)."""
    def wrap(build):
        OPTIMIZERS.add(name, OptimSpec(name, build, flags, default_lr, description))
        return build
    return wrap


def register_schedule(name: str, per_batch: bool, budget_dependent: bool, description: str):
    """Register `build(optimizer, epochs, steps_per_epoch)`."""
    def wrap(build):
        SCHEDULES.add(name, ScheduleSpec(name, build, per_batch, budget_dependent, description))
        return build
    return wrap


@register_optimizer("sgd", ("momentum", "nesterov", "weight_decay"), 0.01,
                    "SGD with momentum (0.9) and optional Nesterov")
def _sgd(params, lr, weight_decay=0.0, momentum=0.9, nesterov=False):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                           weight_decay=weight_decay)


@register_optimizer("nesterov", ("momentum", "weight_decay"), 0.01,
                    "SGD with Nesterov momentum (0.9)")
def _nesterov(params, lr, weight_decay=0.0, momentum=0.9, nesterov=True):
    return _sgd(params, lr, weight_decay, momentum, True)


@register_optimizer("adam", ("weight_decay",), 0.001, "Adam (L2 weight decay)")
def _adam(params, lr, weight_decay=0.0, momentum=0.9, nesterov=False):
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@register_optimizer("adamw", ("weight_decay",), 0.001, "AdamW (decoupled weight decay)")
def _adamw(params, lr, weight_decay=0.01, momentum=0.9, nesterov=False):
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


@register_schedule("constant", False, False, "the same learning rate throughout")
def _constant(opt, epochs, steps_per_epoch):
    return lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)


@register_schedule("step", False, False, "x0.1 every 30 epochs")
def _step(opt, epochs, steps_per_epoch):
    return lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)


@register_schedule("cosine", True, True, "cosine decay to zero over the run")
def _cosine(opt, epochs, steps_per_epoch):
    return lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)


@register_schedule("onecycle", True, True, "one cycle: warm up to --lr over 25%, anneal to ~0")
def _onecycle(opt, epochs, steps_per_epoch):
    total = epochs * steps_per_epoch
    # torch divides by zero when the warm-up ends on step 0 (a quarter of 4 steps)
    pct = 0.25 if round(0.25 * total, 9) != 1 else 2 / total
    lrs = [g["lr"] for g in opt.param_groups]
    return lr_scheduler.OneCycleLR(opt, max_lr=lrs, epochs=epochs,
                                   steps_per_epoch=steps_per_epoch, pct_start=pct)


@register_schedule("plateau", False, False, "x0.1 when val accuracy stalls for 5 epochs")
def _plateau(opt, epochs, steps_per_epoch):
    return lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=5)


def get_optimizer(name: str) -> OptimSpec:
    return OPTIMIZERS.get(name)


def get_schedule(name: str) -> ScheduleSpec:
    return SCHEDULES.get(name)


def create_optimizer(name: str, params, lr: float, **kwargs) -> torch.optim.Optimizer:
    if not (math.isfinite(lr) and lr > 0):
        raise EmocliError(f"the learning rate must be a positive number, got {lr}")
    return get_optimizer(name).build(params, lr, **{k: v for k, v in kwargs.items()
                                                    if v is not None})


def list_optimizers() -> list[str]:
    return OPTIMIZERS.names()


def list_schedules() -> list[str]:
    return SCHEDULES.names()


def describe_optimizers() -> dict[str, list[dict]]:
    """Plain description of every optimizer and schedule, for `train --list`."""
    return {
        "optimizers": [{"name": s.name, "flags": list(s.flags), "default_lr": s.default_lr,
                        "description": s.description} for s in map(get_optimizer, OPTIMIZERS.names())],
        "schedules": [{"name": s.name, "per_batch": s.per_batch,
                       "budget_dependent": s.budget_dependent, "description": s.description}
                      for s in map(get_schedule, SCHEDULES.names())],
    }
