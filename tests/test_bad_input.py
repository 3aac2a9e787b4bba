"""Bad input is exit 2 with one line naming the user's path, found before any work; a dataset
with a broken image skips and counts it."""

import shutil
import zipfile

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
        assert "skipped 1 undecodable image(s), e.g." in result.stderr
        assert "empty.jpg" in result.stderr
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
