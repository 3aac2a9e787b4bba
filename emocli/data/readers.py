"""Readers for every FER2013 layout people have: the CSVs and the image-folder release."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pandas as pd

from emocli.data.dataset import Dataset
from emocli.data.labels import SPLITS, label_of
from emocli.errors import EmocliError

SIZE = 48
MAX_CSV_BYTES = 512 << 20  # fer2013.csv is 287 MB, icml_face_data.csv 301 MB
MAX_IMAGE_BYTES = 32 << 20
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv", "train.csv")  # in order of preference
_SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "publictest": "val", "test": "test", "testing": "test",
               "privatetest": "test"}
_USAGE = {"training": "train", "publictest": "val", "privatetest": "test"}

Entry = tuple[PurePosixPath, Callable[[], bytes]]


def read_source(path: str | Path) -> Dataset:
    """Read FER2013 from a CSV, a .zip, a folder or an emocli cache, detecting the layout."""
    path = Path(path)
    if not path.exists():
        raise EmocliError(f"{path}: no such file or folder")
    if path.is_dir():
        return _read_entries(_folder_entries(path), str(path))
    if path.suffix.lower() == ".npz":
        return Dataset.load(path)
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return _read_zip(path)
    if path.suffix.lower() == ".csv":
        data = path.read_bytes()
        return read_csv(data, str(path), _sha256(data))
    raise EmocliError(f"{path}: not a FER2013 source (expected a .csv, a .zip, a folder "
                      "or an emocli .npz cache)")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_zip(path: Path) -> Dataset:
    try:
        archive = zipfile.ZipFile(path)
        entries = [(PurePosixPath(info.filename), _zip_opener(archive, info, path))
                   for info in archive.infolist() if not info.is_dir()]
        return _read_entries(entries, str(path), path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise EmocliError(f"{path}: unreadable zip ({exc})") from None


def _zip_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                path: Path) -> Callable[[], bytes]:
    """The entry's bytes, refused before unpacking when it is larger than any FER2013 file
    (a zip bomb: 1 MB holding 1 GiB would otherwise take gigabytes of memory)."""
    limit = MAX_CSV_BYTES if info.filename.lower().endswith(".csv") else MAX_IMAGE_BYTES
    if info.file_size > limit:
        def refuse() -> bytes:
            raise EmocliError(f"{path}:{info.filename}: {info.file_size:,} bytes unpacked, "
                              f"more than any FER2013 file ({limit:,}); not unpacked")
        return refuse
    return lambda: archive.read(info)


def _folder_entries(root: Path) -> list[Entry]:
    return [(PurePosixPath(p.relative_to(root).as_posix()), p.read_bytes)
            for p in sorted(root.rglob("*")) if p.is_file()]


def _is_junk(name: PurePosixPath) -> bool:
    return any(part.startswith(("__MACOSX", ".")) for part in name.parts)


def _read_entries(entries: list[Entry], source: str, file: Path | None = None) -> Dataset:
    entries = [e for e in entries if not _is_junk(e[0])]
    images = [e for e in entries if e[0].suffix.lower() in IMAGE_EXTS]
    if images:
        return _read_images(images, source, file)
    by_name = {e[0].name.lower(): e for e in entries}
    for name in CSV_NAMES:
        if name in by_name:
            data = by_name[name][1]()
            return read_csv(data, f"{source}:{by_name[name][0]}", _sha256(data))
    raise EmocliError(f"{source}: no FER2013 images or CSV found (looked for <emotion>/ "
                      f"folders of images and for {', '.join(CSV_NAMES)})")


def _split_of(name: PurePosixPath, split_layout: bool) -> str:
    if not split_layout:
        return "test"
    parent = name.parts[-3].lower() if len(name.parts) >= 3 else ""
    if parent not in _SPLIT_DIRS:
        raise EmocliError(f"{name}: not inside a train/ or test/ folder")
    split = _SPLIT_DIRS[parent]
    if split == "test" and name.name.startswith("PublicTest"):
        return "val"
    return split


def _read_images(entries: list[Entry], source: str, file: Path | None) -> Dataset:
    for name, _ in entries:
        if len(name.parts) < 2:
            raise EmocliError(f"{name}: image outside an <emotion>/ folder")
    split_layout = any(len(n.parts) >= 3 and n.parts[-3].lower() in _SPLIT_DIRS
                       for n, _ in entries)
    digest = hashlib.sha256()
    pixels, labels, splits = [], [], []
    skipped: list[str] = []
    converted = 0
    for name, read in entries:
        label, split = label_of(name.parts[-2]), _split_of(name, split_layout)
        data = read()
        if file is None:
            digest.update(str(name).encode() + data)
        image, was_converted = _decode(data)
        if image is None:
            skipped.append(str(name))
            continue
        converted += was_converted
        pixels.append(image)
        labels.append(label)
        splits.append(SPLITS.index(split))
    if not pixels:
        raise EmocliError(f"{source}: no decodable images ({len(skipped)} skipped)")
    checksum = _file_checksum(file) if file else digest.hexdigest()
    report = {"skipped": len(skipped), "skipped_files": skipped, "converted": converted}
    return Dataset(np.stack(pixels), np.array(labels, dtype=np.int64),
                   np.array(splits, dtype=np.uint8), source, checksum, report)


def _file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _decode(data: bytes) -> tuple[np.ndarray | None, bool]:
    """Decode to 48x48 gray; say whether the image had to be converted."""
    try:  # OpenCV asserts on an empty buffer instead of returning None
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except cv2.error:
        image = None
    if image is None:
        return None, False
    converted = False
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image, converted = cv2.cvtColor(image, code), True
    if image.dtype != np.uint8:
        image, converted = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX, cv2.CV_8U), True
    if image.shape != (SIZE, SIZE):
        image, converted = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA), True
    return image, converted


def read_csv(data: bytes, source: str, checksum: str) -> Dataset:
    """Read fer2013.csv, icml_face_data.csv or the challenge's train.csv."""
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise EmocliError(f"{source}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if "pixels" not in frame.columns:
        raise EmocliError(f"{source}: CSV has no 'pixels' column "
                          f"(columns: {', '.join(frame.columns)})")
    if "emotion" not in frame.columns:
        raise EmocliError(f"{source}: CSV has no 'emotion' column; an unlabeled file "
                          "such as the challenge's test.csv cannot be imported")
    if frame.empty:
        raise EmocliError(f"{source}: the dataset is empty")
    labels = _parse_labels(frame["emotion"], source)
    splits = _parse_usage(frame["usage"], source) if "usage" in frame.columns else \
        np.zeros(len(frame), dtype=np.uint8)
    images = _parse_pixels(frame["pixels"].fillna("").tolist(), source)
    return Dataset(images, labels, splits, source, checksum,
                   {"skipped": 0, "skipped_files": [], "converted": 0})


def _line(i: int) -> str:
    return f"line {i + 2}"  # 1-based, after the header


def _parse_labels(column: pd.Series, source: str) -> np.ndarray:
    values = pd.to_numeric(column.str.strip(), errors="coerce")
    bad = np.flatnonzero(~values.isin(range(7)).to_numpy())
    if len(bad):
        raise EmocliError(f"{source}: {_line(bad[0])}: emotion {column.iloc[bad[0]]!r} "
                          "is not a label 0-6")
    return values.to_numpy(dtype=np.int64)


def _parse_usage(column: pd.Series, source: str) -> np.ndarray:
    usage = column.fillna("").str.strip().str.lower().map(_USAGE)
    bad = np.flatnonzero(usage.isna().to_numpy())
    if len(bad):
        raise EmocliError(f"{source}: {_line(bad[0])}: Usage {column.iloc[bad[0]]!r} is not "
                          "Training, PublicTest or PrivateTest")
    return usage.map(SPLITS.index).to_numpy(dtype=np.uint8)


def _parse_pixels(rows: list[str], source: str) -> np.ndarray:
    """Parse all pixel strings in one C-speed pass; on error, name the first bad row."""
    n_pixels = SIZE * SIZE
    rows = [r.strip() for r in rows]
    for i, row in enumerate(rows):
        if row.count(" ") + 1 != n_pixels:
            _parse_row(row, i, source)  # raises unless only the spacing was unusual
    try:
        flat = np.fromstring(" ".join(rows), dtype=np.int64, sep=" ")
    except ValueError:  # a token that is not an integer somewhere
        flat = np.array([])
    if flat.size != len(rows) * n_pixels:
        for i, row in enumerate(rows):
            _parse_row(row, i, source)
    bad = np.flatnonzero((flat < 0) | (flat > 255))
    if len(bad):
        raise EmocliError(f"{source}: {_line(bad[0] // n_pixels)}: pixel value "
                          f"{flat[bad[0]]} is outside 0-255")
    return flat.astype(np.uint8).reshape(len(rows), SIZE, SIZE)


def _parse_row(row: str, i: int, source: str) -> None:
    try:
        values = [int(v) for v in row.split()]
    except ValueError:
        values = None
    if values is None or len(values) != SIZE * SIZE:
        raise EmocliError(f"{source}: {_line(i)}: pixels are not {SIZE * SIZE} integers 0-255")
