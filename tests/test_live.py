"""Live and scripted `annotate` (issue 16): a stream URL served on loopback, JSON Lines on stdout,
Ctrl-C that keeps the recording, a reader that goes away, default output folders, progress lines
off a terminal."""

from __future__ import annotations

import functools
import http.server
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import cv2
import pandas as pd
import pytest
from conftest import MEDIA, run

from emocli.data.labels import EMOTIONS
from emocli.video.media import ffmpeg_exe
from emocli.video.sources import parse_source

CLIP = MEDIA / "test.mp4"  # 115 frames, one face


def frames_in(path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Python's http.server on loopback, serving test.mp4 (`clip.mp4`) and the same clip looped
    ten times (`long.mp4`), both with their index in front as streamed MP4s have it (the
    server takes no range requests)."""
    if ffmpeg_exe() is None:
        pytest.skip("no ffmpeg")
    root = tmp_path_factory.mktemp("served")
    for name, loops in (("clip.mp4", 0), ("long.mp4", 9)):
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-stream_loop", str(loops),
                        "-i", str(CLIP), "-c", "copy", "-movflags", "+faststart",
                        str(root / name)], check=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def emocli(*args, **kw) -> subprocess.Popen:
    env = {**os.environ, "NO_COLOR": "1", "EMOCLI_PROGRESS_INTERVAL": "3600"}
    return subprocess.Popen([sys.executable, "-m", "emocli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **kw)


def leftovers(folder) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_a_stream_url_bounded_by_max_frames_prints_one_json_line_per_frame(server, tmp_path):
    out = tmp_path / "out.mp4"
    proc = emocli("annotate", f"{server}/clip.mp4", "--max-frames", 40, "-o", out, "--jsonl", "-")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["frame"] for r in records] == list(range(40))  # nothing else on stdout
    assert frames_in(out) == 40
    faces = [f for r in records for f in r["faces"]]
    assert len(faces) >= 35  # one face in (nearly) every frame of this clip
    for face in faces:
        assert set(face) == {"track", "box", "label", "confidence", "scores"}
        assert face["label"] in EMOTIONS and len(face["box"]) == 4
        assert math.isclose(sum(face["scores"].values()), 1.0, abs_tol=0.01)
        assert face["confidence"] == face["scores"][face["label"]]
    assert records[1]["time_s"] > records[0]["time_s"]
    assert f"{out}: 40 frame(s)" in stderr  # the summary goes to stderr with --jsonl -


def test_ctrl_c_on_a_stream_finishes_the_outputs(server, tmp_path):
    out, csv = tmp_path / "out.mp4", tmp_path / "faces.csv"
    proc = emocli("annotate", f"{server}/long.mp4", "-o", out, "--csv", csv, "--jsonl", "-")
    lines = []
    for line in proc.stdout:
        lines.append(json.loads(line))
        if len(lines) == 60:
            proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 0, proc.stderr.read()
    stderr = proc.stderr.read()
    assert "stopping" in stderr and "stopped early" in stderr
    written = frames_in(out)
    assert 60 <= written < 1150  # stopped, not run to the end
    assert [r["frame"] for r in lines] == list(range(written))
    rows = pd.read_csv(csv)
    assert rows["frame"].max() < written and rows["frame"].nunique() >= written - 5
    assert leftovers(tmp_path) == []


def test_ctrl_c_on_a_file_abandons_the_outputs(server, tmp_path):
    src = tmp_path / "long.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-stream_loop", "9", "-i",
                    str(CLIP), "-c", "copy", str(src)], check=True)
    out = tmp_path / "out.mp4"
    proc = emocli("annotate", src, "-o", out, "--jsonl", tmp_path / "f.jsonl", "--csv",
                  tmp_path / "f.csv")
    # the file run has no live output to wait for: interrupt once the video is being written
    while not any(p.name.startswith(".out.mp4") for p in tmp_path.iterdir()):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 130
    assert proc.stderr.read().strip().splitlines()[-1] == "emocli: error: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]


def test_a_reader_that_closes_early_ends_the_run_quietly(server, tmp_path):
    out = tmp_path / "out.mp4"
    proc = emocli("annotate", f"{server}/long.mp4", "-o", out, "--jsonl", "-")
    for _ in range(5):
        json.loads(proc.stdout.readline())
    proc.stdout.close()  # `| head -5`
    assert proc.wait(timeout=300) == 0
    assert proc.stderr.read() == ""
    assert 5 <= frames_in(out) < 1150


def test_jsonl_file_matches_the_csv_and_duration_bounds_a_file(tmp_path):
    lines, csv = tmp_path / "frames.jsonl", tmp_path / "faces.csv"
    result = run("annotate", CLIP, "-o", tmp_path / "o.mp4", "--duration", 1, "--jsonl", lines,
                 "--csv", csv, "--json")
    assert result.exit_code == 0, result.stderr
    fps = cv2.VideoCapture(str(CLIP)).get(cv2.CAP_PROP_FPS)
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert len(records) == result.json()["frames"] == math.ceil(fps) == frames_in(
        tmp_path / "o.mp4")
    rows = pd.read_csv(csv)
    from_lines = [(r["frame"], f["track"], f["label"]) for r in records for f in r["faces"]]
    assert from_lines == list(rows[["frame", "track", "label"]].itertuples(index=False,
                                                                            name=None))


def test_without_output_a_run_folder_is_made_and_incremented(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run("annotate", MEDIA / "justin.jpg")
    assert first.exit_code == 0, first.stderr
    folder = tmp_path / "runs" / "annotate" / "justin"
    assert sorted(p.name for p in folder.iterdir()) == ["faces.csv", "justin.jpg"]
    assert "results: runs/annotate/justin" in first.stderr
    assert cv2.imread(str(folder / "justin.jpg")).shape == cv2.imread(
        str(MEDIA / "justin.jpg")).shape
    assert len(pd.read_csv(folder / "faces.csv")) == 1
    data_only = run("annotate", MEDIA / "justin.jpg", "--no-video")
    assert data_only.exit_code == 0, data_only.stderr
    assert sorted(p.name for p in (folder.parent / "justin2").iterdir()) == ["faces.csv"]


def test_recursive_folders_mirror_their_subfolders(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    shutil.copy(MEDIA / "justin.jpg", src / "a.jpg")
    shutil.copy(MEDIA / "justin.jpg", src / "sub" / "b.jpg")
    flat = run("annotate", src, "-o", tmp_path / "flat", "--json")
    assert [f["input"] for f in flat.json()["files"]] == [str(src / "a.jpg")]
    assert f"{src / 'sub'}: left out (a folder; --recursive takes it in)" in flat.stderr
    deep = run("annotate", src, "-o", tmp_path / "deep", "--recursive", "--json")
    assert deep.exit_code == 0, deep.stderr
    assert [f["input"] for f in deep.json()["files"]] == [str(src / "a.jpg"),
                                                          str(src / "sub" / "b.jpg")]
    assert (tmp_path / "deep" / "sub" / "b.jpg").is_file()


def test_progress_off_a_terminal_is_plain_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("EMOCLI_PROGRESS_INTERVAL", "0")
    result = run("annotate", CLIP, "-o", tmp_path / "o.mp4")
    assert result.exit_code == 0, result.stderr
    progress = [line for line in result.stderr.splitlines()
                if re.fullmatch(r"test\.mp4: \d+/115 \(\d+%\), \d+ frames/s, 0:\d\d:\d\d"
                                r"(, ETA 0:\d\d:\d\d)?", line)]
    assert len(progress) >= 100 and "\x1b" not in result.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["7"], "camera 7: cannot be opened"),
    (["http://127.0.0.1:9/none.mp4"], "http://127.0.0.1:9/none.mp4: cannot be opened"),
    ([str(CLIP), "--no-video", "-o", "x.mp4"], "--no-video writes no labelled copy"),
    ([str(CLIP), "--json", "--jsonl", "-"], "--json and --jsonl - would both write to stdout"),
    ([str(CLIP), "--max-frames", "0"], "--max-frames must be at least 1"),
    ([str(CLIP), "--duration", "-1"], "--duration must be more than 0"),
])
def test_bad_sources_and_options_are_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = run("annotate", *args)
    assert result.exit_code == 2
    assert result.stderr == f"emocli: error: {result.stderr.split(': error: ')[1]}"
    assert message in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("display", "message"), [
    (None, "no display here (neither DISPLAY nor WAYLAND_DISPLAY is set)"),
    (":97.3", "no window can be opened on :97.3"),  # set, but no X server there
])
def test_show_says_when_there_is_no_display(tmp_path, monkeypatch, display, message):
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    result = run("annotate", CLIP, "-o", tmp_path / "o.mp4", "--show")
    assert result.exit_code == 2
    assert result.stderr == f"emocli: error: cannot show the frames: {message}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("spec", "kind", "live", "realtime", "name"), [
    ("0", "camera", True, True, "camera0"),
    ("rtsp://cam.local:554/stream1", "stream", True, True, "stream1"),
    ("https://example.org/talks/keynote.mp4?t=3", "stream", True, False, "keynote"),
    ("udp://239.0.0.1:1234", "stream", True, True, "239.0.0.1"),
])
def test_sources_are_told_apart(spec, kind, live, realtime, name):
    source = parse_source(spec)
    assert (source.kind, source.live, source.realtime, source.name) == (kind, live, realtime,
                                                                         name)


def test_a_file_named_like_a_camera_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(CLIP, tmp_path / "0")
    assert parse_source("0").kind == "file"


def test_classify_every_sets_how_often_faces_are_classified(tmp_path):
    """Faces are classified in frames where they were detected (every 2nd frame, every 4th for
    a steady face), at most every Nth frame. (--classify-every once set the region-pass
    interval instead.)"""
    shares = {}
    for every in (1, 8):
        csv = tmp_path / f"{every}.csv"
        result = run("annotate", CLIP, "--no-video", "--csv", csv, "--classify-every", every,
                     "--max-frames", 60)
        assert result.exit_code == 0, result.stderr
        rows = pd.read_csv(csv)
        shares[every] = rows["raw_happy"].notna().mean()
    assert 0.25 <= shares[1] <= 0.55
    assert 0.1 <= shares[8] <= 0.15
