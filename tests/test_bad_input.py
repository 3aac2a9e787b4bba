"""Bad input is exit 2 with one line naming the user's path, found before any work; a dataset
with a broken image skips and counts it."""

import shutil
import zipfile

import pytest
import torch
from conftest import MEDIA, run


def test_empty_image_in_a_dataset_folder_or_zip_is_skipped_and_counted(tmp_path):
    folder = tmp_path / "faces"
    for emotion in ("happy", "sad"):
        (folder / emotion).mkdir(parents=True)
        shutil.copy(MEDIA / "justin.jpg", folder / emotion / "ok.jpg")
    (folder / "sad" / "empty.jpg").write_bytes(b"")
    archive = tmp_path / "faces.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in folder.rglob("*.jpg"):
            z.write(path, path.relative_to(tmp_path))
    for source in (folder, archive):
        result = run("data", "info", source, "--json")
        assert result.exit_code == 0, result.stderr
        assert "skipped 1 undecodable image(s)" in result.stderr
        assert "sad/empty.jpg: not a readable image; skipped" in result.stderr
        assert sum(result.json()["splits"]["test"].values()) == 2


def test_emocli_home_that_is_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home.txt"
    home.write_text("not a folder")
    monkeypatch.setenv("EMOCLI_HOME", str(home))
    result = run("data", "info")
    assert result.exit_code == 2
    assert f"{home}: the emocli home (EMOCLI_HOME) is a file" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unknown_sweep_backend_leaves_nothing_behind(tmp_path, small_cache):
    result = run("sweep", "--data", small_cache, "--backend", "slurm", "-o", tmp_path / "sw")
    assert result.exit_code == 2
    assert "--backend must be local or ray, got 'slurm'" in result.stderr
    assert not (tmp_path / "sw").exists()


def test_a_text_file_as_a_model(tmp_path, small_cache):
    model = tmp_path / "model.pt"
    model.write_text("hello")
    result = run("evaluate", model, "--data", small_cache)
    assert result.exit_code == 2
    assert f"{model}: not a readable model file" in result.stderr


def test_a_folder_run_survives_a_broken_file(tmp_path, tiny_model):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(MEDIA / "justin.jpg", folder / "justin.jpg")
    shutil.copy(MEDIA / "no-faces.jpg", folder / "z-no-faces.jpg")
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    (folder / "notes.txt").write_text("hello")
    result = run("annotate", folder, "-o", tmp_path / "out", "--model", tiny_model,
                 "--csv", tmp_path / "faces.csv", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert [f["input"] for f in doc["files"]] == [str(folder / "justin.jpg"),
                                                  str(folder / "z-no-faces.jpg")]
    assert [s["input"] for s in doc["skipped"]] == [str(folder / "broken.mp4")]
    assert f"{folder / 'broken.mp4'}: neither a video nor an image" in result.stderr
    assert f"{folder / 'notes.txt'}: left out (not an image or video)" in result.stderr
    assert f"{folder / 'sub'}: left out (a folder; --recursive takes it in)" in result.stderr
    assert "1 of 3 file(s) could not be annotated" in result.stderr.splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["justin.jpg",
                                                                     "z-no-faces.jpg"]
    assert (tmp_path / "faces.csv").read_text().count("justin.jpg") >= 1


def test_resume_refuses_other_settings(tmp_path, small_cache):
    done = run("train", "--data", small_cache, "--arch", "cnn", "--conv", "2", "--fc", "1",
               "--epochs", "1", "--subset", "70", "-o", tmp_path / "r")
    assert done.exit_code == 0, done.stderr
    result = run("train", "--resume", tmp_path / "r", "--epochs", "3", "-o", tmp_path / "x")
    assert result.exit_code == 2
    assert "it takes no --epochs, --output" in result.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("option,value", [("--detect-every", "0"), ("--max-coast", "-1"),
                                          ("--min-face", "-5"), ("--classify-every", "0"),
                                          ("--classify-steady", "0")])
def test_annotate_option_values_are_checked_for_images_and_videos(tmp_path, tiny_model,
                                                                  option, value):
    for src, out in ((MEDIA / "justin.jpg", "o.jpg"), (MEDIA / "test.mp4", "o.mp4")):
        result = run("annotate", src, "-o", tmp_path / out, option, value, "--model",
                     tiny_model)
        assert result.exit_code == 2
        assert option in result.stderr and result.stderr.count("\n") == 1
        assert not (tmp_path / out).exists()


def test_init_from_a_model_with_other_classes(tmp_path, tiny_model, small_cache):
    ckpt = torch.load(tiny_model, weights_only=True)
    ckpt["classes"] = ["a", "b", "c", "d", "e"]
    five = tmp_path / "five.pt"
    torch.save(ckpt, five)
    result = run("train", "--data", small_cache, "--arch", "cnn", "--conv", "3", "--fc", "1",
                 "--init-from", five, "--epochs", "1", "-o", tmp_path / "r")
    assert result.exit_code == 2
    assert f"{five}: its classes ['a', 'b', 'c', 'd', 'e'] differ" in result.stderr


def test_an_unwritable_emocli_home_fails_before_the_import(monkeypatch):
    monkeypatch.setenv("EMOCLI_HOME", "/proc/emocli-home")
    result = run("data", "import", MEDIA / "faces")  # not even read: the home is checked first
    assert result.exit_code == 2
    assert result.stderr == ("emocli: error: /proc/emocli-home/datasets: the output location is "
                             "not writable\n")
