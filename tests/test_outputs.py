"""No command overwrites a user's file that is not its declared output; bad output paths fail
before any work, with one line naming the path and exit code 2."""

import hashlib
import shutil

import pytest
from conftest import MEDIA, run


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def files(tmp_path, tiny_model):
    """Real files a user has: a checkpoint, a clip and a photo."""
    shutil.copy(tiny_model, tmp_path / "best.pt")
    shutil.copy(MEDIA / "test.mp4", tmp_path / "in.mp4")
    shutil.copy(MEDIA / "justin.jpg", tmp_path / "in.jpg")
    (tmp_path / "notes.txt").write_text("keep me")
    return tmp_path


def refused(args, needle, guarded):
    before = {p: sha(p) for p in guarded}
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1
    assert {p: sha(p) for p in guarded} == before  # nothing was touched


def test_evaluate_never_overwrites_its_model(files, small_cache):
    model = files / "best.pt"
    for flag in ("--csv", "--plot"):
        refused(["evaluate", model, "--data", small_cache, flag, model],
                "an input of the command", [model])
    refused(["evaluate", model, "--data", small_cache, "--csv", files / "p.txt"],
            "must end in .csv", [model])


def test_annotate_never_overwrites_its_input(files, tiny_model):
    clip, photo = files / "in.mp4", files / "in.jpg"
    refused(["annotate", clip, "-o", files / "o.mp4", "--plot", clip, "--model", tiny_model],
            "an input of the command", [clip])
    refused(["annotate", photo, "-o", files / "o.jpg", "--csv", photo, "--model", tiny_model],
            "an input of the command", [photo])
    refused(["annotate", photo, "-o", files / "o.png", "--plot", files / "o.png", "--model",
             tiny_model], "given as two different outputs", [photo])
    refused(["annotate", clip, "-o", files / "o.png", "--model", tiny_model],
            "must end in .avi or .gif or .m4v or .mkv or .mov or .mp4 or .webm", [clip])
    refused(["annotate", clip, "-o", files / "o.mp4", "--model", files / "best.pt", "--csv",
             files / "best.pt"], "an input of the command", [files / "best.pt"])
    assert not (files / "o.mp4").exists() and not (files / "o.png").exists()


def test_folders_and_files_are_not_confused(files, small_cache):
    refused(["train", "--data", small_cache, "-o", files / "notes.txt", "--epochs", "1"],
            "is a file; a folder is expected", [files / "notes.txt"])
    refused(["data", "info", small_cache, "--plot", files / "notes.txt"],
            "is a file; a folder is expected", [files / "notes.txt"])
    folder = files / "a-folder"
    folder.mkdir()
    refused(["evaluate", files / "best.pt", "--data", small_cache, "--csv", folder],
            "is a folder; a file is expected", [files / "best.pt"])


def test_unwritable_outputs_fail_before_the_work(files, small_cache):
    refused(["evaluate", files / "best.pt", "--data", small_cache, "--csv",
             "/proc/nope/p.csv"], "not writable", [files / "best.pt"])
