"""`emocli data`: every FER2013 layout, the cache, and every bad input."""

import zipfile

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import FER_ZIP, run

from emocli.data.dataset import Dataset
from emocli.data.labels import EMOTIONS

TRAIN = {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "sad": 4830,
         "surprise": 3171, "neutral": 4965}
VAL = {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "sad": 653, "surprise": 415,
       "neutral": 607}


def test_full_release_imports_with_the_published_counts():
    result = run("data", "import", FER_ZIP, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["splits"] == {"train": TRAIN, "val": VAL}
    info = run("data", "info", "--json")  # the import became the default dataset
    assert info.exit_code == 0
    assert info.json() == {"source": str(FER_ZIP), "splits": {"train": TRAIN, "val": VAL}}


def test_info_table_and_plots(tmp_path, small_cache):
    result = run("data", "info", small_cache, "--plot", tmp_path / "plots")
    assert result.exit_code == 0, result.stderr
    assert "imbalance" in result.stdout and "disgust" in result.stdout
    for name in ("class_counts.png", "samples.png"):
        assert cv2.imread(str(tmp_path / "plots" / name)) is not None


def _pick(fer, per_class=3, split=0):
    idx = [np.flatnonzero((fer.labels == c) & (fer.splits == split))[:per_class]
           for c in range(7)]
    return np.concatenate(idx)


def _pixels(image):
    return " ".join(map(str, image.reshape(-1)))


@pytest.fixture(scope="module")
def sample(fer):
    """21 train and 14 val real images with their labels."""
    train, val = _pick(fer, 3, 0), _pick(fer, 2, 1)
    return fer.images[train], fer.labels[train], fer.images[val], fer.labels[val]


def _fer2013_frame(sample):
    xt, yt, xv, yv = sample
    return pd.DataFrame({"emotion": np.concatenate([yt, yv]),
                         "pixels": [_pixels(i) for i in np.concatenate([xt, xv])],
                         "Usage": ["Training"] * len(yt) + ["PublicTest"] * len(yv)})


def _check_roundtrip(path, sample, expect_val=True):
    result = run("data", "info", path, "--json")
    assert result.exit_code == 0, result.stderr
    splits = result.json()["splits"]
    assert sum(splits["train"].values()) == len(sample[1])
    if expect_val:
        assert sum(splits["val"].values()) == len(sample[3])
    data = Dataset.load(run("data", "import", path, "--json").json()["cache"])
    train_images, _ = data.split("train")
    assert np.array_equal(np.sort(train_images.reshape(len(train_images), -1), axis=0),
                          np.sort(sample[0].reshape(len(sample[0]), -1), axis=0))


def test_fer2013_csv(tmp_path, sample):
    path = tmp_path / "fer2013.csv"
    _fer2013_frame(sample).to_csv(path, index=False)
    _check_roundtrip(path, sample)


def test_icml_face_data_csv_with_spaced_header(tmp_path, sample):
    frame = _fer2013_frame(sample)[["emotion", "Usage", "pixels"]]
    text = frame.to_csv(index=False).replace("emotion,Usage,pixels", "emotion, Usage, pixels", 1)
    path = tmp_path / "icml_face_data.csv"
    path.write_text(text)
    _check_roundtrip(path, sample)


def test_challenge_train_csv_gets_a_val_split(tmp_path, sample):
    xt, yt, _, _ = sample
    pd.DataFrame({"emotion": yt, "pixels": [_pixels(i) for i in xt]}).to_csv(
        tmp_path / "train.csv", index=False)
    pd.DataFrame({"pixels": [_pixels(i) for i in xt[:2]]}).to_csv(tmp_path / "test.csv",
                                                                   index=False)
    result = run("data", "import", tmp_path, "--val-fraction", "0.34", "--json")  # the folder
    assert result.exit_code == 0, result.stderr
    splits = result.json()["splits"]
    assert sum(splits["val"].values()) == 8 and sum(splits["train"].values()) == 13
    assert all(n > 0 for n in splits["val"].values())  # stratified: one per class at least
    assert "carved 8 train images into val" in result.stderr


def test_unlabeled_test_csv_alone_is_refused(tmp_path, sample):
    pd.DataFrame({"pixels": [_pixels(sample[0][0])]}).to_csv(tmp_path / "x.csv", index=False)
    result = run("data", "import", tmp_path / "x.csv")
    assert result.exit_code == 2
    assert "no 'emotion' column" in result.stderr


def _write_tree(root, sample, prefix=""):
    xt, yt, xv, yv = sample
    for i, (image, label) in enumerate(zip(xt, yt)):
        path = root / prefix / "train" / EMOTIONS[label].upper() / f"Training_{i}.png"  # lossless, so pixels compare exactly
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)
    for i, (image, label) in enumerate(zip(xv, yv)):
        path = root / prefix / "test" / EMOTIONS[label] / f"PublicTest_{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), image)


def test_image_folder_release_as_folder(tmp_path, sample):
    _write_tree(tmp_path / "release", sample)
    _check_roundtrip(tmp_path / "release", sample)


def test_image_folder_release_as_zip_with_top_folder(tmp_path, sample):
    _write_tree(tmp_path / "tree", sample, prefix="archive")
    with zipfile.ZipFile(tmp_path / "archive.zip", "w") as z:
        for path in (tmp_path / "tree").rglob("*.*"):
            z.write(path, path.relative_to(tmp_path / "tree"))
    result = run("data", "info", tmp_path / "archive.zip", "--json")
    assert result.exit_code == 0, result.stderr
    assert sum(result.json()["splits"]["val"].values()) == len(sample[3])


def test_private_test_names_go_to_test(tmp_path, sample):
    path = tmp_path / "r" / "test" / "happy" / "PrivateTest_1.jpg"
    path.parent.mkdir(parents=True)
    cv2.imwrite(str(path), sample[0][0])
    (tmp_path / "r" / "test" / "sad").mkdir()
    cv2.imwrite(str(tmp_path / "r" / "test" / "sad" / "other.jpg"), sample[0][1])
    result = run("data", "info", tmp_path / "r", "--json")
    assert result.json()["splits"]["test"]["happy"] == 1
    assert result.json()["splits"]["test"]["sad"] == 1


def test_single_emotion_folder_tree_is_one_test_split(tmp_path, sample):
    for i, (image, label) in enumerate(zip(sample[0], sample[1])):
        folder = tmp_path / "faces" / {0: "anger", 3: "Happiness", 4: "sadness"}.get(
            int(label), EMOTIONS[label])
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.jpg"), image)
    result = run("data", "info", tmp_path / "faces", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["splits"] == {"test": {e: 3 for e in EMOTIONS}}


def test_colour_and_odd_sized_images_are_converted(tmp_path, sample):
    folder = tmp_path / "faces" / "happy"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "a.png"), cv2.cvtColor(cv2.resize(sample[0][0], (96, 96)),
                                                    cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(folder / "b.png"), sample[0][1])
    result = run("data", "info", tmp_path / "faces", "--json")
    assert result.exit_code == 0
    assert "converted 1 image(s)" in result.stderr


# -- bad input: one line on stderr, exit 2, cache untouched ----------------------------------

def _bad(path, *needles):
    result = run("data", "import", path)
    assert result.exit_code == 2, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr
    return result


def test_missing_path(tmp_path):
    _bad(tmp_path / "nope.csv", "no such file or folder")


def test_unreadable_zip(tmp_path):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    _bad(tmp_path / "broken.zip", "unreadable zip")


def test_csv_without_pixels(tmp_path):
    (tmp_path / "a.csv").write_text("emotion,Usage\n0,Training\n")
    _bad(tmp_path / "a.csv", "no 'pixels' column")


@pytest.mark.parametrize("pixels", ["1 2 3", "x " * 2304, "300 " * 2304])
def test_bad_pixel_string_names_the_row(tmp_path, sample, pixels):
    frame = _fer2013_frame(sample)
    frame.loc[4, "pixels"] = pixels.strip()
    frame.to_csv(tmp_path / "fer2013.csv", index=False)
    _bad(tmp_path / "fer2013.csv", "line 6")


def test_undecodable_images_are_skipped_and_counted(tmp_path, sample):
    _write_tree(tmp_path / "r", sample)
    (tmp_path / "r" / "train" / "HAPPY" / "broken.jpg").write_bytes(b"not a jpeg")
    result = run("data", "info", tmp_path / "r", "--json")
    assert result.exit_code == 0
    assert "skipped 1 undecodable image(s)" in result.stderr


def test_only_undecodable_images_is_an_error(tmp_path):
    (tmp_path / "r" / "happy").mkdir(parents=True)
    (tmp_path / "r" / "happy" / "x.jpg").write_bytes(b"junk")
    _bad(tmp_path / "r", "no decodable images")


def test_unknown_emotion_folder_is_named(tmp_path, sample):
    (tmp_path / "r" / "contempt").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "r" / "contempt" / "x.png"), sample[0][0])
    _bad(tmp_path / "r", "unknown emotion folder 'contempt'")


def test_empty_dataset(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n")
    _bad(tmp_path / "fer2013.csv", "empty")
    (tmp_path / "empty").mkdir()
    _bad(tmp_path / "empty", "no FER2013 images or CSV")


def test_failed_import_keeps_the_existing_cache(tmp_path, sample, emocli_home):
    path = tmp_path / "fer2013.csv"
    _fer2013_frame(sample).to_csv(path, index=False)
    good = run("data", "import", path, "--json")
    before = {p: p.read_bytes() for p in emocli_home.rglob("*") if p.is_file()}
    path.write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    _bad(path, "line 2")
    after = {p: p.read_bytes() for p in emocli_home.rglob("*") if p.is_file()}
    assert before == after
    assert run("data", "info", "--json").json()["splits"] == good.json()["splits"]


def test_no_default_dataset_yet():
    result = run("data", "info")
    assert result.exit_code == 2
    assert "emocli data import" in result.stderr


def test_a_random_npz_is_not_a_cache(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    result = run("data", "info", tmp_path / "x.npz")
    assert result.exit_code == 2
    assert "not an emocli dataset cache" in result.stderr


def test_outputs_get_the_users_umask_not_mkstemps(tmp_path, sample):
    import os

    path = tmp_path / "fer2013.csv"
    _fer2013_frame(sample).to_csv(path, index=False)
    old = os.umask(0o022)
    try:
        cache = run("data", "import", path, "--json").json()["cache"]
    finally:
        os.umask(old)
    assert os.stat(cache).st_mode & 0o777 == 0o644
