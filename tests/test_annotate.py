"""`emocli annotate` on the real clip and photos: quality bar, output format, bad input."""

import shutil
import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest
from conftest import MEDIA, run

from emocli.data.labels import EMOTIONS
from emocli.video.media import VideoInfo, VideoWriter, ffmpeg_exe, has_audio
from emocli.video.pipeline import FaceRow

CLIP = MEDIA / "test.mp4"


def _video_props(path):
    cap = cv2.VideoCapture(str(path))
    props = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), round(cap.get(cv2.CAP_PROP_FPS), 2),
             int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    frames = 0
    while cap.read()[0]:
        frames += 1
    return props, frames


@pytest.fixture(scope="module")
def clip_run(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("annotate")
    result = run("annotate", CLIP, "-o", out / "out.mp4", "--model", tiny_model,
                 "--csv", out / "faces.csv", "--plot", out / "timeline.png", "--json")
    assert result.exit_code == 0, result.stderr
    return out, result.json()


def test_one_steady_face_in_the_clip(clip_run):
    _, doc = clip_run
    assert doc["frames"] == 115
    assert doc["faces_per_frame"]["1"] >= 0.98 * 115
    assert doc["faces_per_frame"]["2+"] == 0
    assert len(doc["tracks"]) == 1
    track = doc["tracks"][0]
    assert track["dominant"] in EMOTIONS
    assert sum(track["share"].values()) == pytest.approx(1, abs=1e-3)


def test_output_video_keeps_frames_fps_and_size(clip_run):
    out, _ = clip_run
    (count, fps, w, h), decoded = _video_props(out / "out.mp4")
    (in_count, in_fps, in_w, in_h), in_decoded = _video_props(CLIP)
    assert decoded == in_decoded == 115
    assert (fps, w, h) == (in_fps, in_w, in_h)


def test_csv_rows(clip_run):
    out, doc = clip_run
    rows = pd.read_csv(out / "faces.csv")
    assert list(rows.columns) == ["frame", "time_s", "track", "x", "y", "w", "h", "label",
                                  "confidence", *EMOTIONS, *(f"raw_{e}" for e in EMOTIONS)]
    assert tuple(rows.columns) == FaceRow.COLUMNS
    assert len(rows) == doc["faces_per_frame"]["1"]
    assert rows["frame"].is_unique and rows["frame"].between(0, 114).all()
    assert np.allclose(rows[list(EMOTIONS)].sum(axis=1), 1, atol=1e-3)
    raw = rows[[f"raw_{e}" for e in EMOTIONS]]
    classified = raw.notna().all(axis=1)
    # every 3rd frame by default where the face was found: every 4th once it is steady
    assert 115 / 5 < classified.sum() < 115 / 2
    assert np.allclose(raw[classified].sum(axis=1), 1, atol=1e-3)
    # the shown label is the smoothed leader, or one held by hysteresis: within 0.1 of it
    smoothed = rows[list(EMOTIONS)].to_numpy()
    shown = smoothed[np.arange(len(rows)), [EMOTIONS.index(x) for x in rows["label"]]]
    assert (shown >= smoothed.max(axis=1) - 0.1 - 1e-3).all()
    assert np.allclose(shown, rows["confidence"], atol=1e-4)
    assert np.allclose(rows["time_s"], rows["frame"] / 24.7017, atol=1e-3)
    assert ((rows["w"] > 60) & (rows["w"] < 250)).all()  # a face, not the frame
    assert cv2.imread(str(out / "timeline.png")) is not None


def test_the_first_and_last_frames_have_every_thread_and_the_rest_one_a_stage(tiny_model,
                                                                              monkeypatch):
    """While frames are tracked, OpenCV's pool is held to one thread (each stage has its own),
    but the first frame's full pass, with nothing else at work, has the pool at its own size;
    the frames left when tracking ends are labelled with the pool at its own size, in batches
    of 8 that the encoder takes while the next is labelled; the size is restored after. While
    tracking, the labeller gets 8-32 frames at a time (as few as 8 when it is idle)."""
    from emocli.video import pipeline
    from emocli.video.annotate import annotate_video

    seen, tracked, left = [], [], []
    real, real_track, real_release = (pipeline.Annotator.label, pipeline.Annotator.track,
                                      pipeline.Annotator.release)

    def label(self, frames):
        seen.append((len(frames), cv2.getNumThreads()))
        return real(self, frames)

    def track(self, frame, eager=False):
        tracked.append(cv2.getNumThreads())
        return real_track(self, frame, eager)

    def release(self):
        left.extend(real_release(self))
        return list(left)

    monkeypatch.setattr(pipeline.Annotator, "label", label)
    monkeypatch.setattr(pipeline.Annotator, "track", track)
    monkeypatch.setattr(pipeline.Annotator, "release", release)
    before = cv2.getNumThreads()
    cv2.setNumThreads(3)
    try:
        result = annotate_video(CLIP, None, tiny_model, pipeline.AnnotateOptions(audio=False))
        assert cv2.getNumThreads() == 3
    finally:
        cv2.setNumThreads(before)
    threads = [t for _, t in seen]
    tracking, tail = seen[:threads.index(3)], seen[threads.index(3):]
    assert tracking and {t for _, t in tracking} == {1}
    assert all(8 <= frames <= 32 for frames, _ in tracking)
    assert {t for _, t in tail} == {3} and all(frames == 8 for frames, _ in tail[:-1])
    assert sum(frames for frames, _ in tail) == len(left) > 0
    assert sum(frames for frames, _ in seen) == result.frames == 115
    assert tracked[0] == 3 and set(tracked[1:]) == {1} and len(tracked) == 115


def test_image_input(tiny_model, tmp_path):
    result = run("annotate", MEDIA / "justin.jpg", "-o", tmp_path / "j.png", "--model",
                 tiny_model, "--json")
    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["frames"] == 1 and doc["faces_per_frame"]["1"] == 1
    original, labelled = cv2.imread(str(MEDIA / "justin.jpg")), cv2.imread(str(tmp_path / "j.png"))
    assert original.shape == labelled.shape
    assert (original != labelled).any()


def test_no_face_image_is_copied_unchanged(tiny_model, tmp_path):
    result = run("annotate", MEDIA / "no-faces.jpg", "-o", tmp_path / "n.png", "--model",
                 tiny_model, "--json")
    assert result.exit_code == 0
    assert result.json()["faces_per_frame"] == {"0": 1, "1": 0, "2+": 0}
    assert "no faces found" in result.stderr
    original = cv2.imread(str(MEDIA / "no-faces.jpg"))
    assert np.array_equal(original, cv2.imread(str(tmp_path / "n.png")))


def test_folder_input(tiny_model, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("justin.jpg", "no-faces.jpg"):
        shutil.copy(MEDIA / name, folder / name)
    result = run("annotate", folder, "-o", tmp_path / "out", "--model", tiny_model, "--json")
    assert result.exit_code == 0, result.stderr
    assert len(result.json()["files"]) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["justin.jpg", "no-faces.jpg"]


@pytest.mark.skipif(ffmpeg_exe() is None, reason="no ffmpeg")
def test_audio_is_kept(tiny_model, tmp_path):
    with_audio = tmp_path / "with_audio.mp4"
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(CLIP), "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=5", "-map", "0:v", "-map", "1:a", "-c:v",
                    "copy", "-c:a", "aac", "-shortest", str(with_audio)], check=True)
    assert has_audio(ffmpeg_exe(), with_audio)
    out = tmp_path / "out.mp4"
    result = run("annotate", with_audio, "-o", out, "--model", tiny_model)
    assert result.exit_code == 0, result.stderr
    assert has_audio(ffmpeg_exe(), out)
    assert _video_props(out)[1] == _video_props(with_audio)[1]
    silent = tmp_path / "silent.mp4"
    assert run("annotate", with_audio, "-o", silent, "--model", tiny_model,
               "--no-audio").exit_code == 0
    assert not has_audio(ffmpeg_exe(), silent)


def test_video_without_faces_keeps_its_frames(tiny_model, tmp_path):
    still = cv2.imread(str(MEDIA / "no-faces.jpg"))
    src = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10,
                             (still.shape[1], still.shape[0]))
    for _ in range(12):
        writer.write(still)
    writer.release()
    result = run("annotate", src, "-o", tmp_path / "out.avi", "--model", tiny_model, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["faces_per_frame"]["0"] == 12
    assert "no faces found" in result.stderr
    assert _video_props(tmp_path / "out.avi")[1] == 12


def _fails(args, needle):
    result = run("annotate", *args)
    assert result.exit_code == 2, result.stdout
    assert needle in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_inputs(tiny_model, tmp_path):
    _fails([tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4"], "no such file or folder")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    _fails([text, "-o", tmp_path / "o.mp4", "--model", tiny_model], "neither a video nor an image")
    empty = tmp_path / "zero.mp4"
    empty.write_bytes(b"")
    _fails([empty, "-o", tmp_path / "o.mp4", "--model", tiny_model], "neither a video")
    _fails([CLIP, "-o", CLIP, "--model", tiny_model], "an input of the command")
    _fails([CLIP, "-o", "/proc/nope/out.mp4", "--model", tiny_model], "not writable")
    _fails([CLIP, "-o", tmp_path / "o.mp4", "--detector", "magic", "--model", tiny_model],
           "unknown detector 'magic'")
    _fails([CLIP, "-o", tmp_path / "o.mp4", "--detector", "yunet", "--detector-model",
            tmp_path / "missing.onnx", "--model", tiny_model], "no such detector model file")
    _fails([CLIP, "-o", tmp_path / "o.mp4", "--detector", "haar", "--detector-model", text,
            "--model", tiny_model], "not a Haar cascade file")
    _fails([CLIP, "-o", tmp_path / "o.mp4", "--detect-every", "0", "--model", tiny_model],
           "at least 1")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("suffix,codec,pix", [(".mp4", "h264", "yuv420p"),
                                              (".mov", "h264", "yuv420p"),
                                              (".mkv", "h264", None), (".webm", "vp9", "yuv420p"),
                                              (".avi", "mjpeg", None), (".gif", "gif", None)])
def test_every_video_container_keeps_every_frame_and_the_size(tiny_model, tmp_path, suffix,
                                                              codec, pix):
    """The exact size, but for an odd one in the browsers' H.264 (4:2:0 holds even sides only:
    one more row and column, said on stderr); VP9's 4:2:0 holds it exactly."""
    odd = tmp_path / "odd.avi"  # 317x241: odd sides
    cap, frames = cv2.VideoCapture(str(CLIP)), []
    while len(frames) < 30 and (frame := cap.read()[1]) is not None:
        frames.append(cv2.resize(frame, (317, 241)))
    # through ffmpeg (MJPEG 4:4:4): OpenCV's own VideoWriter rounds odd sides down
    with VideoWriter(odd, VideoInfo(24.0, 317, 241, 0)) as writer:
        for frame in frames:
            writer.write(frame)
    assert _video_props(odd)[0][2:] == (317, 241)
    for src in (CLIP, odd):
        out = tmp_path / f"out-{src.stem}{suffix}"
        result = run("annotate", src, "-o", out, "--model", tiny_model, "--no-audio")
        assert result.exit_code == 0, result.stderr
        (_, _, w, h), decoded = _video_props(out)
        (_, _, in_w, in_h), in_decoded = _video_props(src)
        padded = src == odd and codec == "h264" and pix is not None
        assert (decoded, w, h) == (in_decoded, in_w + padded, in_h + padded)
        assert ("318x242, one row or column more" in result.stderr) == padded
        if padded:  # the added column and row copy the last ones, not black
            last = cv2.VideoCapture(str(out)).read()[1].astype(int)
            assert np.abs(last[:, -1] - last[:, -2]).mean() < 6 < last[:, -1].mean()
            assert np.abs(last[-1] - last[-2]).mean() < 6 < last[-1].mean()
        probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                               capture_output=True, text=True).stderr
        assert f"Video: {codec}" in probe
        assert pix is None or pix in probe
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["odd.avi", f"out-odd{suffix}", f"out-test{suffix}"])  # no temporary file left


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi"])
def test_written_colours_come_back(tmp_path, suffix):
    """Whether emocli or ffmpeg makes the 4:2:0 planes (OpenCV for H.264 and VP9 at even
    sizes), a frame decodes to its own colours: same range (BT.601, limited), no planes
    swapped."""
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (40, 160, 220), (128, 128, 128)]
    frames = [np.full((96, 128, 3), c, np.uint8) for c in colours]
    out = tmp_path / f"colours{suffix}"
    with VideoWriter(out, VideoInfo(10.0, 128, 96, 0)) as writer:
        for frame in frames:
            writer.write(frame)
    cap = cv2.VideoCapture(str(out))
    back = [cap.read()[1] for _ in frames]
    for want, got in zip(frames, back):
        assert np.abs(got[8:-8, 8:-8].reshape(-1, 3).mean(0) - want[0, 0]).max() < 6


def test_mp4_output_is_browser_playable_h264(tiny_model, tmp_path):
    out = tmp_path / "out.mp4"
    assert run("annotate", CLIP, "-o", out, "--model", tiny_model).exit_code == 0
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(out)],
                           capture_output=True, text=True).stderr
    assert "Video: h264" in probe and "yuv420p" in probe
