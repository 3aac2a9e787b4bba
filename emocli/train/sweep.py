"""Sweeps: a grid of training runs that shares epoch budgets, stops diverged runs early,
records each finished trial in SQLite at once, and runs locally in parallel or on Ray."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from emocli.cluster import BACKENDS, check_address, start_ray
from emocli.data.dataset import Dataset
from emocli.data.store import dataset_path, load_dataset
from emocli.errors import EmocliError, OptionError
from emocli.fileio import write_csv
from emocli.train.optim import get_schedule
from emocli.train.trainer import TrainConfig, Trainer

COLUMNS = ["trial", "arch", "conv", "fc", "optimizer", "lr", "epochs", "elapsed_s", "accuracy",
           "precision", "recall", "f1", "status", "epochs_run", "run_dir"]



@dataclass(frozen=True)
class Trial:
    """One row of the report's table: a configuration and an epoch budget."""

    config: TrainConfig  # epochs = this trial's budget

    @property
    def key(self) -> str:
        return json.dumps(asdict(self.config), sort_keys=True)

    def base_key(self) -> str:
        """Trials with equal base keys can share one run (their schedule ignores the budget)."""
        cfg = asdict(self.config)
        if not get_schedule(self.config.schedule).budget_dependent:
            cfg["epochs"] = None
        return json.dumps(cfg, sort_keys=True)


@dataclass
class Job:
    """One training run serving one or more trials (one per epoch budget)."""

    trials: list[Trial]
    run_dir: Path

    @property
    def config(self) -> TrainConfig:
        return replace(self.trials[0].config, epochs=max(t.config.epochs for t in self.trials))


def parse_layers(spec: str) -> list[tuple[int, int]]:
    """'2x2,3x2' -> [(2, 2), (3, 2)] as (conv, fc)."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        conv, sep, fc = item.lower().partition("x")
        if not sep or not conv.isdigit() or not fc.isdigit():
            raise OptionError("layers", f"items must be CONVxFC like 5x2, got {item!r}")
        out.append((int(conv), int(fc)))
    return out


def expand_grid(base: TrainConfig, archs: Iterable[str], layers: list[tuple[int, int]],
                optims: Iterable[str], lrs: Iterable[float],
                budgets: Iterable[int]) -> list[Trial]:
    """The cartesian grid; `layers` applies to the cnn family only."""
    trials = []
    for arch, optim, lr, epochs in itertools.product(archs, optims, lrs, budgets):
        shapes = layers if arch == "cnn" else [None]
        for shape in shapes:
            arch_args = dict(base.arch_args)
            if shape is not None:
                arch_args.update(conv=shape[0], fc=shape[1])
            cfg = replace(base, arch=arch, arch_args=arch_args, optim=optim, lr=lr,
                          epochs=epochs).validate()
            trials.append(Trial(cfg))
    return sorted(trials, key=_grid_order)


def _grid_order(trial: Trial):
    c = trial.config
    return (c.epochs, c.arch, c.arch_args.get("conv", 0), c.arch_args.get("fc", 0), c.optim,
            -c.lr)


def plan_jobs(trials: list[Trial], sweep_dir: Path) -> list[Job]:
    groups: dict[str, list[Trial]] = {}
    for trial in trials:
        groups.setdefault(trial.base_key(), []).append(trial)
    return [Job(sorted(ts, key=lambda t: t.config.epochs), sweep_dir / "runs" / run_name(key))
            for key, ts in groups.items()]


def run_name(base_key: str) -> str:
    """A run's folder, named by what it trains (not by its place in the plan, which changes
    when a restarted sweep plans only the trials left: two runs once shared `run001`)."""
    return f"run-{hashlib.sha256(base_key.encode()).hexdigest()[:10]}"


# -- early stopping -----------------------------------------------------------------------

def stall_check(majority_rate: float, patience: int) -> Callable[[list[dict]], str | None]:
    """Stop a run whose val accuracy has stayed at the majority-class rate for `patience`
    epochs (the chance-level rows of the report: diverged runs that trained on anyway)."""

    def check(rows: list[dict]) -> str | None:
        recent = rows[-patience:]
        if len(recent) == patience and all(r["val_acc"] <= majority_rate + 0.005 for r in recent):
            return "diverged"
        return None

    return check


# -- the results database -----------------------------------------------------------------

class ResultsDB:
    """`sweep.db`: one row per finished trial, committed as soon as its run ends."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS trials (key TEXT PRIMARY KEY, "
                          "row TEXT NOT NULL, finished_at REAL NOT NULL)")
        self.conn.commit()

    def done(self) -> dict[str, dict]:
        return {k: json.loads(r) for k, r in self.conn.execute("SELECT key, row FROM trials")}

    def record(self, rows: list[tuple[str, dict]]) -> None:
        with self.conn:  # one transaction per finished run
            self.conn.executemany("INSERT OR REPLACE INTO trials VALUES (?, ?, ?)",
                                  [(k, json.dumps(r), time.time()) for k, r in rows])

    def close(self) -> None:
        self.conn.close()


# -- running one job (in this process, a worker process, or a Ray task) --------------------

def run_job(job: Job, data: Dataset | str, patience: int, threads: int | None = None
            ) -> list[dict]:
    """Train the job's run and read each trial's row at its epoch budget (in trial order)."""
    if threads:
        torch.set_num_threads(threads)
    cfg = job.config
    if isinstance(data, str):  # in a worker: read the dataset from the path
        data = load_dataset(data, cfg.val_fraction, cfg.seed)
    _, y_val = data.split("val")
    majority = float(np.bincount(y_val).max() / len(y_val)) if len(y_val) else 1.0
    result = Trainer(cfg, data, job.run_dir, stop_check=stall_check(majority, patience)).run()
    out = []
    for trial in job.trials:
        budget = trial.config.epochs
        reached = [r for r in result.rows if r["epoch"] <= budget]
        row = reached[-1]
        status = "finished" if row["epoch"] == budget else result.status
        out.append(_row(trial, row, status, sum(r["seconds"] for r in reached), job.run_dir))
    return out


def _keyed(job: Job, rows: list[dict]) -> list[tuple[str, dict]]:
    """Trial keys come from the driver, so workers on other machines cannot skew them."""
    return [(t.key, row) for t, row in zip(job.trials, rows)]


def _row(trial: Trial, metrics: dict, status: str, elapsed: float, run_dir: Path) -> dict:
    c = trial.config
    return {"arch": c.arch, "conv": c.arch_args.get("conv"), "fc": c.arch_args.get("fc"),
            "optimizer": c.optim, "lr": c.lr, "epochs": c.epochs,
            "elapsed_s": round(elapsed, 2), "accuracy": metrics["val_acc"],
            "precision": metrics["val_precision"], "recall": metrics["val_recall"],
            "f1": metrics["val_f1"], "status": status, "epochs_run": metrics["epoch"],
            "run_dir": str(run_dir)}


# -- the driver -----------------------------------------------------------------------------

@dataclass
class SweepPlan:
    trials: list[Trial]
    jobs: list[Job]  # only those with unfinished trials
    skipped: int
    epochs_shared: int  # epochs the pending jobs train
    epochs_separate: int  # epochs the same trials would need one run each


def plan(trials: list[Trial], sweep_dir: Path, db: ResultsDB) -> SweepPlan:
    done = db.done()
    pending = [t for t in trials if t.key not in done]
    jobs = plan_jobs(pending, sweep_dir)
    return SweepPlan(trials, jobs, len(trials) - len(pending),
                     sum(j.config.epochs for j in jobs),
                     sum(t.config.epochs for t in pending))


def probe_seconds_per_epoch(cfg: TrainConfig, data: Dataset, sweep_dir: Path) -> float:
    """Time a few batches of the first configuration and scale to one epoch."""
    probe = replace(cfg, epochs=1, subset=min(cfg.subset or 10**9, cfg.batch_size * 4))
    trainer = Trainer(probe, data, sweep_dir / "probe")
    tic = time.perf_counter()
    trainer._train_epoch(0)
    per_image = (time.perf_counter() - tic) / len(trainer.y_train)
    n_train = cfg.subset or len(data.split("train")[1])
    return per_image * (n_train + len(data.split("val")[1]) / 3)  # val is forward only


def execute(sweep: SweepPlan, data: Dataset, db: ResultsDB, jobs: int = 1,
            backend: str = "local", address: str | None = None, patience: int = 3,
            data_path: str | None = None, on_done: Callable[[Job], None] | None = None) -> None:
    """Run the pending jobs; each finished job's trials are committed at once."""
    if backend == "ray":
        _execute_ray(sweep, data_path, db, address, patience, on_done)
        return
    if jobs <= 1:
        for job in sweep.jobs:
            db.record(_keyed(job, run_job(job, data, patience)))
            if on_done:
                on_done(job)
        return
    threads = max(1, (os.cpu_count() or 1) // jobs)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_job, job, data_path or data, patience, threads): job
                   for job in sweep.jobs}
        for future in as_completed(futures):
            db.record(_keyed(futures[future], future.result()))
            if on_done:
                on_done(futures[future])


def _execute_ray(sweep: SweepPlan, data_path: str | None, db: ResultsDB, address: str | None,
                 patience: int, on_done) -> None:
    if data_path is None:
        raise OptionError("data", "must be a file the Ray workers can read (not a dataset in memory)")
    ray = start_ray(address)
    remote = ray.remote(run_job)
    pending = {remote.remote(job, data_path, patience, 1): job for job in sweep.jobs}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            job = pending.pop(ref)
            db.record(_keyed(job, ray.get(ref)))
            if on_done:
                on_done(job)


def results_frame(trials: list[Trial], db: ResultsDB) -> pd.DataFrame:
    done = db.done()
    rows = [{"trial": i, **done[t.key]} for i, t in enumerate(trials, 1) if t.key in done]
    return pd.DataFrame(rows, columns=COLUMNS)


def default_sweep_dir(trials: list[Trial], root: str | Path = "runs") -> Path:
    """`runs/sweep/sweep-<hash of the grid>`: the same grid finds its finished trials again."""
    digest = hashlib.sha256("".join(t.key for t in trials).encode()).hexdigest()[:8]
    return Path(root) / "sweep" / f"sweep-{digest}"


def run_sweep(trials: list[Trial], sweep_dir: Path | None = None,
              data: str | Path | Dataset | None = None, *, jobs: int = 1,
              backend: str = "local", address: str | None = None, patience: int = 3,
              on_plan: Callable[[SweepPlan, Dataset, Path], None] | None = None,
              on_done: Callable[[Job], None] | None = None) -> pd.DataFrame:
    """Train every trial that `sweep_dir/sweep.db` does not hold yet (budgets of one
    configuration share a run where the schedule allows), write `results.csv`, and return the
    results of all trials. `on_plan(plan, dataset, sweep_dir)` hears the plan before any
    training; `on_done(job)` after each run."""
    if jobs < 1 or patience < 1:
        raise OptionError(("jobs", "patience"), "must be at least 1")
    if backend not in BACKENDS:  # before the sweep folder is made or anything is timed
        raise OptionError("backend", f"must be {' or '.join(BACKENDS)}, got {backend!r}")
    if not trials:
        raise EmocliError("the grid is empty")
    if backend == "ray":
        check_address(address)  # before the sweep folder is made or anything is timed
    sweep_dir = Path(sweep_dir or default_sweep_dir(trials))
    base = trials[0].config
    dataset = data if isinstance(data, Dataset) else load_dataset(data, base.val_fraction,
                                                                  base.seed)
    db = ResultsDB(sweep_dir / "sweep.db")
    try:
        sweep_plan = plan(trials, sweep_dir, db)
        if on_plan:
            on_plan(sweep_plan, dataset, sweep_dir)
        data_path = None if isinstance(data, Dataset) else dataset_path(data)
        execute(sweep_plan, dataset, db, jobs, backend, address, patience, data_path, on_done)
        frame = results_frame(trials, db)
    finally:
        db.close()
    write_csv(sweep_dir / "results.csv", frame)
    return frame
