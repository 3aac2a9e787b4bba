"""`emocli evaluate`: every number equals sklearn's on the --csv predictions; hostile files."""

import pickle
import shutil
import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
)

from emocli.data.labels import EMOTIONS
from emocli.data.store import load_dataset
from emocli.errors import EmocliError
from emocli.models import BUNDLED, DEFAULT_MODEL, bundled_model_path, load_checkpoint
from emocli.predict import Ensemble, Predictor, load_model
from emocli.predict.loading import plain_average, top_margin


def test_numbers_equal_sklearn_on_the_csv(tiny_model, small_cache, tmp_path):
    csv, plot = tmp_path / "pred.csv", tmp_path / "cm.png"
    result = run("evaluate", tiny_model, "--data", small_cache, "--csv", csv, "--plot", plot,
                 "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert list(doc) == ["model", "split", "n", "accuracy", "macro_f1", "weighted_f1",
                         "per_class", "confusion"]
    pred = pd.read_csv(csv)
    assert list(pred.columns) == ["index", "true", "pred", *EMOTIONS]
    assert np.allclose(pred[list(EMOTIONS)].sum(axis=1), 1, atol=1e-4)
    assert (pred[list(EMOTIONS)].idxmax(axis=1) == pred["pred"]).all()
    y, p = pred["true"], pred["pred"]
    assert doc["split"] == "val" and doc["n"] == len(pred) == 350
    assert doc["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert doc["macro_f1"] == pytest.approx(f1_score(y, p, average="macro", labels=EMOTIONS,
                                                     zero_division=0))
    assert doc["weighted_f1"] == pytest.approx(f1_score(y, p, average="weighted",
                                                        labels=EMOTIONS, zero_division=0))
    rep = classification_report(y, p, labels=list(EMOTIONS), output_dict=True, zero_division=0)
    for e in EMOTIONS:
        got = doc["per_class"][e]
        assert got["precision"] == pytest.approx(rep[e]["precision"])
        assert got["recall"] == pytest.approx(rep[e]["recall"])
        assert got["f1"] == pytest.approx(rep[e]["f1-score"])
        assert got["support"] == rep[e]["support"]
    assert doc["confusion"] == confusion_matrix(y, p, labels=list(EMOTIONS)).tolist()
    assert cv2.imread(str(plot)).shape[0] > 100


def test_table_output_and_tta(tiny_model, small_cache):
    plain = run("evaluate", tiny_model, "--data", small_cache, "--json").json()
    for tta in ("flip", "tencrop"):
        result = run("evaluate", tiny_model, "--data", small_cache, "--tta", tta, "--json")
        assert result.exit_code == 0, result.stderr
        assert result.json()["n"] == plain["n"]
    table = run("evaluate", tiny_model, "--data", small_cache)
    assert "macro avg" in table.stdout and "weighted avg" in table.stdout
    assert "Confusion matrix" in table.stdout
    assert "images/s" in table.stderr


def test_several_models_and_ensemble(tiny_run, small_cache):
    models = [tiny_run / "weights" / "best.pt", tiny_run / "weights" / "last.pt"]
    result = run("evaluate", *models, "--data", small_cache, "--ensemble", "--json")
    assert result.exit_code == 0, result.stderr
    docs = result.json()["models"]
    assert [d["model"] for d in docs] == [str(m) for m in models] + ["ensemble"]
    table = run("evaluate", *models, "--data", small_cache, "--ensemble")
    assert "Comparison" in table.stdout


def _refused(model, data, needle):
    result = run("evaluate", model, "--data", data)
    assert result.exit_code == 2, result.stdout
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1


def test_missing_truncated_and_random_files(tiny_model, small_cache, tmp_path):
    _refused(tmp_path / "nope.pt", small_cache, "no such model file")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_model.read_bytes()[:5000])
    _refused(truncated, small_cache, "not a readable model file")
    noise = tmp_path / "noise.pt"
    noise.write_bytes(np.random.default_rng(0).bytes(4096))
    _refused(noise, small_cache, "not a readable model file")


def test_a_torch_file_that_is_not_an_emocli_checkpoint(small_cache, tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    _refused(tmp_path / "other.pt", small_cache, "not an emocli checkpoint")


class _Plant:
    """Unpickling this runs code that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_pickle_never_runs(small_cache, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"format": "emocli-checkpoint-1", "payload": _Plant(str(marker))}, evil)
    _refused(evil, small_cache, "refused")
    assert not marker.exists()
    raw = tmp_path / "raw.pt"  # a bare pickle, not even a torch zip
    raw.write_bytes(pickle.dumps(_Plant(str(marker))))
    result = run("evaluate", raw, "--data", small_cache)
    assert result.exit_code == 2
    assert not marker.exists()


def _edited(tiny_model, tmp_path, **changes):
    ckpt = torch.load(tiny_model, weights_only=True) | changes
    path = tmp_path / "edited.pt"
    torch.save(ckpt, path)
    return path


def test_unknown_architecture(tiny_model, small_cache, tmp_path):
    _refused(_edited(tiny_model, tmp_path, arch="alexnet"), small_cache,
             "unknown architecture 'alexnet'")


def test_class_names_differ(tiny_model, small_cache, tmp_path):
    classes = ["a", "b", "c", "d", "e", "f", "g"]
    _refused(_edited(tiny_model, tmp_path, classes=classes), small_cache, "differ from the data's")


def test_weights_that_do_not_fit(tiny_model, small_cache, tmp_path):
    _refused(_edited(tiny_model, tmp_path, arch_args={"conv": 5, "fc": 1}), small_cache,
             "do not fit")


def test_empty_split(tiny_model, small_cache):
    result = run("evaluate", tiny_model, "--data", small_cache, "--split", "test")
    assert result.exit_code == 2
    assert "the test split is empty" in result.stderr


def test_zip_is_not_a_model(small_cache, tmp_path):
    with zipfile.ZipFile(tmp_path / "x.pt", "w") as z:
        z.writestr("hello.txt", "hi")
    _refused(tmp_path / "x.pt", small_cache, "not a readable model file")


def _shipped(name):
    return all(p.is_file() for p in BUNDLED[name].paths)


@pytest.mark.parametrize("name", list(BUNDLED))
def test_bundled_models_score_what_their_description_says_on_publictest(name, fer):
    if not _shipped(name):
        pytest.skip(f"this build does not ship {name!r}")
    meta = BUNDLED[name]
    checkpoints = [load_checkpoint(p) for p in meta.paths]
    assert all(c["arch"] in __import__("emocli.models").models.list_models() for c in checkpoints)
    assert sum(v.numel() for c in checkpoints for v in c["state_dict"].values()
               if v.is_floating_point() and v.dim() > 0) >= meta.parameters  # + BN statistics
    images, labels = fer.split("val")
    model = load_model(name)
    answers = model.predict_proba(images).argmax(1)
    accuracy = float((answers == labels).mean())
    assert accuracy >= 0.675  # the project's floor for what ships
    assert abs(accuracy - meta.accuracy["none"]) < 0.0005, accuracy
    if meta.exit_margin is not None:  # the early exit costs at most 0.1 point (model card)
        assert model.exit_margin == meta.exit_margin
        full = plain_average(model)
        for tta, slack in (("none", 0.001), ("flip", 0.002)):
            exits = answers if tta == "none" else model.predict_proba(images, tta).argmax(1)
            plain = full.predict_proba(images, tta).argmax(1)
            assert (exits == labels).mean() >= (plain == labels).mean() - slack, tta


def test_unknown_model_name_lists_the_bundled_ones(small_cache):
    result = run("evaluate", "nosuch", "--data", small_cache)
    assert result.exit_code == 2
    assert "nosuch: no such model file (bundled models: default, ensemble)" in result.stderr


def test_a_file_named_like_a_bundled_model_wins(tiny_model, small_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_model, tmp_path / "default")
    mine = run("evaluate", tiny_model, "--data", small_cache, "--json").json()
    named = run("evaluate", "default", "--data", small_cache, "--json").json()
    assert named["confusion"] == mine["confusion"]


def test_ensemble_averages_its_members_each_with_tta(tiny_run, small_cache):
    members = [Predictor.load(tiny_run / "weights" / f) for f in ("best.pt", "last.pt")]
    images, _ = load_dataset(small_cache).split("val")
    got = Ensemble(members, "pair").predict_proba(images, "flip")
    want = np.mean([m.predict_proba(images, "flip") for m in members], axis=0)
    assert np.allclose(got, want) and np.allclose(got.sum(1), 1, atol=1e-5)


def test_an_early_exit_asks_each_later_member_only_about_the_faces_still_unsure(
        tiny_run, small_cache):
    first, second = (Predictor.load(tiny_run / "weights" / f) for f in ("best.pt", "last.pt"))
    images, _ = load_dataset(small_cache).split("val")
    asked = []

    class Sure:  # the second network made surer (its probabilities cubed), noting its faces
        classes = second.classes

        def predict_proba(self, faces, tta="none", batch_size=256):
            asked.append(len(faces))
            p = second.predict_proba(faces, tta, batch_size) ** 3
            return p / p.sum(1, keepdims=True)

    alone, other = first.predict_proba(images), Sure().predict_proba(images)
    pair = (alone + other) / 2

    def leaving(cut):  # the faces that leave after the first network, after the second, last
        sure = top_margin(alone) > cut
        sure_of_two = ~sure & (top_margin(pair) > cut)
        return sure, sure_of_two, ~sure & ~sure_of_two

    # a margin at which faces leave at each of the three stages
    cut = next(c for c in np.quantile(top_margin(alone), np.linspace(0.1, 0.9, 17))
               if all(group.any() for group in leaving(c)))
    asked.clear()
    got = Ensemble([first, Sure(), Sure()], "trio", exit_margin=cut).predict_proba(images)
    sure, sure_of_two, rest = leaving(cut)
    assert np.array_equal(got[sure], alone[sure])
    assert np.allclose(got[sure_of_two], pair[sure_of_two])
    assert np.allclose(got[rest], (alone[rest] + 2 * other[rest]) / 3)
    assert asked == [int((~sure).sum()), int(rest.sum())]
    asked.clear()
    assert np.array_equal(Ensemble([first, Sure()], "pair", exit_margin=-1)
                          .predict_proba(images), alone) and asked == []
    assert np.allclose(Ensemble([first, Sure()], "pair").predict_proba(images), pair)
    assert asked == [len(images)]


def test_models_joined_with_plus_average_every_network_once(tiny_run, small_cache):
    best, last = (tiny_run / "weights" / f for f in ("best.pt", "last.pt"))
    images, _ = load_dataset(small_cache).split("val")
    trio = load_model(f"{best}+{last}+{best}")
    assert isinstance(trio, Ensemble) and trio.exit_margin is None
    one, two = (Predictor.load(f).predict_proba(images) for f in (best, last))
    assert np.allclose(trio.predict_proba(images), (2 * one + two) / 3, atol=1e-6)
    if _shipped("ensemble"):  # a bundled ensemble joins with its networks, without its exit
        joined = load_model(f"ensemble+{best}")
        assert len(joined.members) == len(BUNDLED["ensemble"].files) + 1
    doc = run("evaluate", f"{best}+{last}", "--data", small_cache, "--json").json()
    assert doc["model"] == f"{best}+{last}"
    assert doc["n"] == len(images)


@pytest.mark.parametrize("joined, needle", [("{best}+", "an empty name in a combination"),
                                            ("{best}+nope.onnx", "nope.onnx: no such model")])
def test_a_bad_part_of_a_combination_is_named(joined, needle, tiny_model, small_cache):
    _refused(joined.format(best=tiny_model), small_cache, needle)


def test_ensemble_members_must_share_classes(tiny_model, tmp_path):
    other = _edited(tiny_model, tmp_path, classes=list("abcdefg"))
    with pytest.raises(EmocliError, match="differ from"):
        Ensemble([Predictor.load(tiny_model), Predictor.load(other)], "pair")


def test_no_model_means_the_default_bundled_one(small_cache):
    if not _shipped(DEFAULT_MODEL):
        pytest.skip(f"this build does not ship {DEFAULT_MODEL!r}")
    doc = run("evaluate", "--data", small_cache, "--json").json()
    assert doc["model"] == DEFAULT_MODEL
    assert doc["accuracy"] > 0.5  # the tiny test models stay near 35% on this sample


def test_bundled_weights_fit_the_package_budget():
    shipped = list(bundled_model_path().parent.iterdir())
    assert sum(p.stat().st_size for p in shipped) <= 60_000_000  # issue 25: 60 MB in all
    named = {p.name for m in BUNDLED.values() for p in m.paths}
    assert named == {p.name for p in shipped}


def test_export_makes_a_bundled_size_checkpoint(tiny_run, tmp_path, fer):
    from emocli.models.checkpoint import export_checkpoint, load_checkpoint

    last = tiny_run / "weights" / "last.pt"
    out = tmp_path / "shipped.pt"
    export_checkpoint(last, out)
    ckpt = load_checkpoint(out)
    assert "optimizer" not in ckpt and "history" not in ckpt
    assert all(v.dtype == torch.float16 for v in ckpt["state_dict"].values()
               if v.is_floating_point())
    assert out.stat().st_size < 0.4 * last.stat().st_size
    images = fer.split("val")[0][:200]
    full, half = Predictor.load(last), Predictor.load(out)
    assert np.abs(full.predict_proba(images) - half.predict_proba(images)).max() < 0.01
