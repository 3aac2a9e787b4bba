"""`emocli train` on real images: run directory, repeatability, resume after kill -9, errors."""

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import run

from emocli.models.checkpoint import load_checkpoint

QUICK = ["--arch", "cnn", "--conv", "2", "--fc", "2", "--optim", "sgd", "--lr", "0.02",
         "--schedule", "onecycle", "--batch-size", "64", "--seed", "3"]


def _metrics(run_dir):
    return pd.read_csv(run_dir / "metrics.csv").drop(columns="seconds")


def test_run_directory(tiny_run):
    assert (tiny_run / "config.json").is_file()
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["arch"] == "cnn" and config["arch_args"] == {"conv": 3, "fc": 1}
    metrics = pd.read_csv(tiny_run / "metrics.csv")
    assert list(metrics.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc",
                                     "val_precision", "val_recall", "val_f1", "lr", "seconds"]
    assert len(metrics) == 3
    best = torch.load(tiny_run / "weights" / "best.pt", weights_only=True)
    assert best["arch"] == "cnn" and best["classes"][0] == "angry"
    assert best["metrics"]["val_acc"] == metrics["val_acc"].max()
    assert {"mean", "std"} == set(best["normalization"])


def test_training_learns_something(tiny_run):
    metrics = pd.read_csv(tiny_run / "metrics.csv")
    assert metrics["val_acc"].max() > 0.25  # a balanced val split: chance is 1/7


def test_same_seed_same_metrics(small_cache, tmp_path):
    for name in ("a", "b"):
        result = run("train", "--data", small_cache, *QUICK, "--epochs", "1", "--subset", "500",
                     "-o", tmp_path / name)
        assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(_metrics(tmp_path / "a"), _metrics(tmp_path / "b"))


@pytest.mark.parametrize("extra", [[], ["--ema", "0.99", "--mixup", "0.4", "--precision", "bf16"]],
                         ids=["plain", "ema-mixup-bf16"])
def test_resume_after_kill_matches_an_uninterrupted_run(small_cache, tmp_path, extra):
    args = ["--data", str(small_cache), *QUICK, "--epochs", "3", "--subset", "700", *extra]
    assert run("train", *args, "-o", tmp_path / "whole").exit_code == 0
    proc = subprocess.Popen([sys.executable, "-m", "emocli", "train", *args, "-o",
                             str(tmp_path / "cut")], stderr=subprocess.DEVNULL)
    metrics = tmp_path / "cut" / "metrics.csv"
    deadline = time.time() + 300
    while not metrics.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(pd.read_csv(metrics))
    assert done < 3, "the run finished before it could be killed"
    result = run("train", "--resume", tmp_path / "cut")
    assert result.exit_code == 0, result.stderr
    pd.testing.assert_frame_equal(_metrics(tmp_path / "whole"), _metrics(tmp_path / "cut"))


def test_default_run_dirs_increment(small_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert run("train", "--data", small_cache, *QUICK, "--epochs", "1", "--subset", "70",
                   "--json").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "train").iterdir()) == ["exp", "exp2"]


def test_json_output(small_cache, tmp_path):
    result = run("train", "--data", small_cache, *QUICK, "--epochs", "1", "--subset", "70",
                 "--no-augment", "--balance", "weights", "-o", tmp_path / "r", "--json")
    assert result.exit_code == 0
    doc = result.json()
    assert doc["run_dir"] == str(tmp_path / "r") and doc["status"] == "finished"
    assert load_checkpoint(doc["best_weights"])["arch"] == "cnn"


@pytest.mark.parametrize("args,needle", [
    (["--arch", "alexnet"], "unknown architecture 'alexnet': choose from"),
    (["--optim", "rmsprop"], "unknown optimizer 'rmsprop': choose from"),
    (["--schedule", "wavy"], "unknown schedule 'wavy'"),
    (["--arch", "cnn", "--conv", "9"], "conv must be 1-5"),
    (["--lr", "-0.1"], "--lr must be a positive number"),
    (["--arch-arg", "width"], "--arch-arg must be KEY=VALUE"),
    (["--balance", "magic"], "--balance must be one of"),
    (["--precision", "fp8"], "--precision must be one of auto, fp32, bf16"),
    (["--ema", "1.5"], "--ema must be in [0, 1)"),
    (["--mixup", "-1"], "--mixup must be at least 0"),
    (["--distill-weight", "2"], "--distill-weight must be in [0, 1]"),
    (["--distill", "nosuch.pt"], "--distill nosuch.pt: no such model file (bundled models: "),
    (["--distill", "ensemble+nosuch.pt"], "--distill nosuch.pt: no such model file"),
    (["--distill-tta", "mirror"], "--distill-tta must be one of none, flip, tencrop"),
])
def test_bad_arguments(args, needle, small_cache):
    result = run("train", "--data", small_cache, *args)
    assert result.exit_code == 2
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    result = run("train", "--resume", tmp_path)
    assert result.exit_code == 2
    assert "not a training run" in result.stderr


def test_init_from_fine_tunes_and_checks_the_architecture(tiny_run, small_cache, tmp_path):
    best = tiny_run / "weights" / "best.pt"
    same = ["--arch", "cnn", "--conv", "3", "--fc", "1", "--optim", "sgd", "--lr", "0.001",
            "--epochs", "1", "--subset", "140", "--init-from", best]
    result = run("train", "--data", small_cache, *same, "-o", tmp_path / "ft", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["init_from"] == str(best)
    graph = tmp_path / "best.onnx"  # the same weights in an exported graph: the same run
    assert run("export", best, "-o", graph).exit_code == 0
    same[-1] = graph
    result = run("train", "--data", small_cache, *same, "-o", tmp_path / "fg", "--json")
    assert result.exit_code == 0, result.stderr
    runs = [pd.read_csv(tmp_path / r / "metrics.csv").drop(columns="seconds") for r in ("ft", "fg")]
    assert runs[0].equals(runs[1])
    other = run("train", "--data", small_cache, "--arch", "cnn", "--conv", "2",
                "--init-from", best, "-o", tmp_path / "x")
    assert other.exit_code == 2
    assert f"--init-from {best} holds another architecture" in other.stderr


def test_ema_weights_are_what_is_validated_and_saved(small_cache, tmp_path, fer):
    """best.pt holds the moving average, and evaluating it gives the logged val accuracy."""
    result = run("train", "--data", small_cache, *QUICK, "--epochs", "2", "--subset", "700",
                 "--ema", "0.9", "--mixup", "0.2", "--precision", "fp32", "-o", tmp_path / "r",
                 "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["ema"], config["mixup"], config["precision"]) == (0.9, 0.2, "fp32")
    evaluated = run("evaluate", doc["best_weights"], "--data", small_cache, "--split", "val",
                    "--json")
    assert evaluated.exit_code == 0, evaluated.stderr
    assert evaluated.json()["accuracy"] == pytest.approx(doc["best"]["val_acc"], abs=1e-9)


def test_bf16_and_fp32_both_learn(small_cache, tmp_path):
    accs = {}
    for precision in ("fp32", "bf16"):
        result = run("train", "--data", small_cache, *QUICK, "--epochs", "2", "--subset", "1400",
                     "--precision", precision, "-o", tmp_path / precision, "--json")
        assert result.exit_code == 0, result.stderr
        accs[precision] = result.json()["best"]["val_acc"]
    assert min(accs.values()) > 0.2
    assert abs(accs["fp32"] - accs["bf16"]) < 0.08


def test_distillation_makes_the_student_follow_its_teacher(tiny_model, small_cache, tmp_path):
    """Taught only by a weak teacher (~35% val), the student agrees with it far more often
    than the same run taught only by the labels."""
    import emocli

    faces, _ = emocli.load_dataset(small_cache).split("val")
    teacher = emocli.load_model(tiny_model).predict_proba(faces).argmax(1)
    agreement = {}
    for share in ("0", "1"):
        result = run("train", "--data", small_cache, *QUICK, "--epochs", "4", "--subset", "1400",
                     "--distill", tiny_model, "--distill-weight", share, "--mixup", "0.2",
                     "--no-augment", "-o", tmp_path / share, "--json")
        assert result.exit_code == 0, result.stderr
        student = emocli.load_model(result.json()["best_weights"]).predict_proba(faces)
        agreement[share] = float((student.argmax(1) == teacher).mean())
    config = json.loads((tmp_path / "1" / "config.json").read_text())
    assert (config["distill"], config["distill_weight"]) == (str(tiny_model), 1.0)
    assert agreement["1"] > agreement["0"] + 0.1, agreement


def test_a_teacher_joined_with_plus_averages_its_networks(tiny_model, fer):
    """--distill mine.pt+default: each training view gets the mean of the networks'
    probabilities."""
    from emocli.predict import load_model
    from emocli.train.trainer import load_teacher

    pixels = torch.from_numpy(fer.images[:64]).float().div(255).unsqueeze(1)
    with torch.no_grad():
        joined = load_teacher(f"{tiny_model}+default", torch.device("cpu")).proba_pixels(pixels)
        alone = [load_model(m, runtime="torch").proba_pixels(pixels)
                 for m in (tiny_model, "default")]
    assert torch.allclose(joined, (alone[0] + alone[1]) / 2, atol=1e-6)
    assert (alone[0] - alone[1]).abs().max() > 1e-3  # two different networks


def test_a_flip_teacher_averages_each_view_and_its_mirror(tiny_model, small_cache, tmp_path):
    """--distill-tta flip: the teacher's probabilities for a training view are the mean of its
    word on the view and on the mirrored view, and the run records the setting."""
    import emocli
    from emocli.train.trainer import Trainer

    cfg = emocli.TrainConfig(arch="cnn", arch_args={"conv": 2, "fc": 1}, distill=str(tiny_model),
                             distill_tta="flip", epochs=1, precision="fp32").validate()
    trainer = Trainer(cfg, emocli.load_dataset(small_cache), tmp_path / "run")
    x, soft, _ = trainer._views(trainer.x_train[:64], trainer.y_train[:64],
                                torch.Generator().manual_seed(1))
    pixels = x.float() * trainer.norm["std"] + trainer.norm["mean"]
    with torch.no_grad():
        view, mirrored = (trainer.teacher.proba_pixels(p) for p in (pixels, pixels.flip(-1)))
    assert torch.allclose(soft, (view + mirrored) / 2, atol=1e-6)
    assert (view - mirrored).abs().max() > 1e-3  # the tiny teacher is not mirror-symmetric


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_teacher_runs_in_the_students_precision(tiny_model, small_cache, tmp_path,
                                                    precision):
    """The teacher's forward passes run under the student's autocast (bf16: half the cost of
    a teacher that is three networks), and its probabilities stay float32, near fp32's."""
    import emocli
    from emocli.train.trainer import Trainer

    cfg = emocli.TrainConfig(arch="cnn", arch_args={"conv": 2, "fc": 1}, distill=str(tiny_model),
                             epochs=1, precision=precision).validate()
    trainer = Trainer(cfg, emocli.load_dataset(small_cache), tmp_path / "run")
    dtypes = []
    trainer.teacher.model.register_forward_hook(
        lambda module, args, out: dtypes.append(out.dtype))
    x, soft, _ = trainer._views(trainer.x_train[:64], trainer.y_train[:64],
                                torch.Generator().manual_seed(1))
    assert dtypes == [torch.bfloat16 if precision == "bf16" else torch.float32]
    assert soft.dtype == torch.float32
    pixels = x.float() * trainer.norm["std"] + trainer.norm["mean"]
    with torch.no_grad():
        exact = trainer.teacher.proba_pixels(pixels)
    assert (soft - exact).abs().max() < (0.05 if precision == "bf16" else 1e-6)


def test_the_teacher_sees_the_students_view_before_its_exposure(tiny_model, small_cache, tmp_path):
    """With --light, the teacher labels the same warp and mix as the student, but lit as the
    data is (it learnt on well-lit faces): the student learns the lit answer for a dark face."""
    import emocli
    from emocli.train.trainer import Trainer

    seen = []

    class Recorder:
        def proba_pixels(self, pixels, tta):
            assert tta == "none"
            seen.append(pixels.clone())
            return torch.full((len(pixels), 7), 1 / 7)

    data = emocli.load_dataset(small_cache)
    for augment, mixup in ((False, 0.2), (True, 0.0)):
        cfg = emocli.TrainConfig(arch="cnn", arch_args={"conv": 2, "fc": 1}, light=1.0,
                                 augment=augment, mixup=mixup, distill=str(tiny_model),
                                 epochs=1, precision="fp32").validate()
        trainer = Trainer(cfg, data, tmp_path / f"run-{augment}")
        trainer.teacher = Recorder()
        faces, y = trainer.x_train[:64], trainer.y_train[:64]
        x, soft, mix = trainer._views(faces, y, torch.Generator().manual_seed(1))
        norm = trainer.norm
        teacher, student = seen[-1], x.float() * norm["std"] + norm["mean"]
        assert teacher.shape == student.shape == (64, 1, 48, 48) and soft.shape == (64, 7)
        assert (student - teacher).abs().mean() > 0.03  # every student face got an exposure
        if not augment:  # the teacher's view is the mix of the faces as they are
            lam, perm = mix
            clean = faces.float() / 255
            assert torch.allclose(teacher, lam * clean + (1 - lam) * clean[perm], atol=1e-5)
        else:  # one warp for both: the rectangles erased from the student are erased for it
            erased = x == 0
            assert erased.sum() > 1000
            assert ((teacher - norm["mean"]) / norm["std"])[erased].abs().max() < 1e-5
            assert not torch.allclose(teacher, faces.float() / 255, atol=0.05)


def test_light_darkens_faces_as_far_as_dim_footage_does(fer):
    """--light's gamma reaches 2.6 on the dark side (darkened PublicTest draws 1.6-2.4), 0.55 on
    the bright side, and a share p of the faces is changed, the rest left as they are."""
    from emocli.train.augment import LightConfig, light_batch

    faces = torch.from_numpy(fer.images[:400]).float().div(255).unsqueeze(1)
    only_gamma = LightConfig(contrast=(1.0, 1.0), brightness=0.0, noise=0.0, blur=0.0)
    lit = light_batch(faces, torch.Generator().manual_seed(0), 0.5, only_gamma)
    changed = (lit != faces).flatten(1).any(1)
    assert 0.4 < changed.float().mean() < 0.6
    mid = (faces > 0.2) & (faces < 0.8)  # where the gamma can be read back
    gammas = torch.stack([(lit[i][mid[i]].log() / faces[i][mid[i]].log()).median()
                          for i in changed.nonzero().flatten()])
    assert 0.55 <= gammas.min() < 0.65 and 2.45 < gammas.max() <= 2.6
    assert (gammas > 1.8).float().mean() > 0.15  # beyond the range used before session 23
