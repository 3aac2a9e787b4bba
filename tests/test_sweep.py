"""`emocli sweep`: grid, shared budgets, early stops, the database, resume after kill -9."""

import importlib.util
import signal
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import run

from emocli.train import sweep as sw
from emocli.train.trainer import TrainConfig

SMALL = ["--optim", "sgd", "--layers", "2x2,3x2", "--lr", "0.05", "--epochs", "1,2",
         "--subset", "350"]


def _db_rows(path):
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT key, finished_at FROM trials").fetchall()


def test_small_grid_table_csv_db_and_rerun_skips(small_cache, tmp_path):
    out = tmp_path / "sw"
    tic = time.perf_counter()
    first = run("sweep", "--data", small_cache, *SMALL, "-o", out)
    first_s = time.perf_counter() - tic
    assert first.exit_code == 0, first.stderr
    assert "4 trials, 0 already done; 4 to run in 2 training runs" in first.stderr
    assert "4 epochs instead of 6" in first.stderr and "estimated" in first.stderr
    for column in ("elapsed", "epochs", "LR", "conv", "FC", "optimizer", "accuracy", "precision",
                   "recall", "F1", "status"):
        assert column in first.stdout
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4
    assert sorted(zip(table.conv, table.epochs)) == [(2, 1), (2, 2), (3, 1), (3, 2)]
    assert (table.status == "finished").all()
    # the 1-epoch row is epoch 1 of the 2-epoch run
    for conv in (2, 3):
        rows = table[table.conv == conv].sort_values("epochs")
        assert rows.run_dir.nunique() == 1
        metrics = pd.read_csv(f"{rows.run_dir.iloc[0]}/metrics.csv")
        assert rows.accuracy.tolist() == metrics.val_acc.tolist()
    recorded = _db_rows(out / "sweep.db")
    assert len(recorded) == 4
    tic = time.perf_counter()
    again = run("sweep", "--data", small_cache, *SMALL, "-o", out, "--json")
    assert again.exit_code == 0
    assert "4 already done: nothing to run" in again.stderr
    assert time.perf_counter() - tic < first_s / 2
    assert _db_rows(out / "sweep.db") == recorded
    assert [r["trial"] for r in again.json()] == [1, 2, 3, 4]


def test_exploding_learning_rate_is_marked_diverged(small_cache, tmp_path):
    result = run("sweep", "--data", small_cache, "--optim", "sgd", "--layers", "2x1",
                 "--lr", "1e6", "--epochs", "3", "--subset", "350", "--patience", "1",
                 "-o", tmp_path / "sw", "--json")
    assert result.exit_code == 0, result.stderr
    (row,) = result.json()
    assert row["status"] == "diverged"
    assert row["epochs_run"] < 3


def test_default_grid_is_the_reports_24_trials_per_optimizer(tmp_path):
    base = TrainConfig(schedule="constant")
    trials = sw.expand_grid(base, ["cnn"], sw.parse_layers("2x2,3x2,5x2,5x5"), ["sgd"],
                            [0.1, 0.01, 0.001], [50, 100])
    assert len(trials) == 24
    jobs = sw.plan_jobs(trials, tmp_path)
    assert len(jobs) == 12 and all(j.config.epochs == 100 for j in jobs)
    assert sum(j.config.epochs for j in jobs) == 1200  # instead of 24 runs: 1800 epochs
    both = sw.expand_grid(base, ["cnn"], sw.parse_layers("2x2,3x2,5x2,5x5"), ["sgd", "adam"],
                          [0.1, 0.01, 0.001], [50, 100])
    assert len(both) == 48


def test_budget_dependent_schedules_do_not_share(tmp_path):
    trials = sw.expand_grid(TrainConfig(schedule="onecycle"), ["cnn"], [(2, 2)], ["sgd"],
                            [0.01], [1, 2])
    assert len(sw.plan_jobs(trials, tmp_path)) == 2


def test_parallel_jobs(small_cache, tmp_path):
    result = run("sweep", "--data", small_cache, *SMALL, "--jobs", "2", "-o", tmp_path / "sw",
                 "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == 4


def test_kill_loses_only_the_trials_in_flight(small_cache, tmp_path):
    out = tmp_path / "sw"
    args = [sys.executable, "-m", "emocli", "sweep", "--data", str(small_cache), *SMALL,
            "-o", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if (out / "sweep.db").exists() and _db_rows(out / "sweep.db"):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = _db_rows(out / "sweep.db")
    assert len(kept) == 2, "expected the first run's two trials before the kill"
    result = run("sweep", "--data", small_cache, *SMALL, "-o", out)
    assert result.exit_code == 0, result.stderr
    assert "2 already done" in result.stderr
    after = _db_rows(out / "sweep.db")
    assert len(after) == 4 and set(kept) <= set(after)
    runs = pd.read_csv(out / "results.csv").groupby("run_dir").size()
    assert len(runs) == 2 and (runs == 2).all()  # the restart did not reuse the first run's folder


def test_bad_grid_values(small_cache):
    for args, needle in ((["--layers", "5by2"], "CONVxFC"), (["--lr", "fast"], "--lr must be"),
                         (["--epochs", "0"], "positive integers"),
                         (["--optim", "rmsprop"], "unknown optimizer")):
        result = run("sweep", "--data", small_cache, *args)
        assert result.exit_code == 2, args
        assert needle in result.stderr


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="Ray is an optional extra: pip install 'emocli[ray]'")
def test_ray_backend_on_a_local_instance(small_cache, tmp_path):
    out = tmp_path / "sw"
    result = run("sweep", "--data", small_cache, *SMALL, "--backend", "ray", "-o", out, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()) == 4
    assert len(_db_rows(out / "sweep.db")) == 4
