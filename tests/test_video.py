"""Frame-accurate video access: containers and frame folders, on small real files."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data

from metst_engine.errors import VideoError
from metst_engine.video import ContainerVideo, FrameFolderVideo, VideoSource, open_video

W, H = 160, 120
N = 48


def pattern(i: int, w: int = W, h: int = H) -> np.ndarray:
    """Astronaut shifted by 3 px per frame plus a moving bar: every frame distinct."""
    base = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (w + 3 * 64, h))
    img = np.ascontiguousarray(base[:, 3 * (i % 64): 3 * (i % 64) + w])
    img[(2 * i) % h, :, :] = 255
    return img


def write_video(path: Path, codec: str, n: int = N, *, pts_ms: list[int] | None = None,
                options: dict[str, str] | None = None) -> Path:
    with av.open(str(path), "w", options=options or {}) as c:
        s = c.add_stream(codec, rate=30)
        s.width, s.height = W, H
        s.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "libx264":
            s.codec_context.options = {"bf": "2", "g": "12", "preset": "veryfast"}
        if pts_ms is not None:
            s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i in range(n):
            f = av.VideoFrame.from_ndarray(pattern(i), format="bgr24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[i], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def straight_decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Reference: every frame of a plain sequential PyAV decode, and its time."""
    with av.open(str(path)) as c:
        frames = [(f.to_ndarray(format="bgr24"), float(f.time)) for f in c.decode(video=0)]
    return [f for f, _ in frames], [t for _, t in frames]


VFR_MS = [0, 10, 50, 60, 200, 210, 220, 400] + [433 + 33 * k for k in range(N - 8)]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    return {
        "h264": write_video(d / "bframes.mp4", "libx264"),
        "mjpg": write_video(d / "mjpg.avi", "mjpeg"),
        "vfr": write_video(d / "vfr.mp4", "libx264", pts_ms=VFR_MS),
        "faststart": write_video(d / "faststart.mp4", "libx264",
                                 options={"movflags": "faststart"}),
    }


@pytest.fixture(scope="module")
def refs(videos: dict[str, Path]) -> dict[str, list[np.ndarray]]:
    return {k: straight_decode(p)[0] for k, p in videos.items()}


def cut_in_half(src: Path, dst: Path) -> Path:
    b = src.read_bytes()
    dst.write_bytes(b[: len(b) // 2])
    return dst


# -- containers: exact frames ---------------------------------------------------------

def test_test_videos_are_real(videos: dict[str, Path]) -> None:
    """The H.264 file really has B-frames and every frame is distinct."""
    with av.open(str(videos["h264"])) as c:
        pkts = [p for p in c.demux(video=0) if p.size]
    assert any(p.pts != p.dts for p in pkts[1:]) and any(
        a.pts > b.pts for a, b in zip(pkts, pkts[1:])), "no reordered (B) frames"
    for key in ("h264", "mjpg"):
        ref, _ = straight_decode(videos[key])
        assert len(ref) == N
        assert len({f.tobytes() for f in ref}) == N


@pytest.mark.parametrize("key", ["h264", "mjpg", "vfr"])
def test_random_access_matches_sequential_decode(videos: dict[str, Path], key: str) -> None:
    ref, _ = straight_decode(videos[key])
    order = list(range(N)) * 2 + [N - 1, 0, N - 1, 5, 4, 3, 2, 1, 0]
    random.Random(7).shuffle(order)
    with open_video(videos[key], cache_size=0) as v:
        assert isinstance(v, ContainerVideo) and v.n_frames == len(v) == N
        assert v.size == (W, H)
        for i in order:
            img = v.frame(i)
            assert img.dtype == np.uint8 and img.shape == (H, W, 3)
            assert np.array_equal(img, ref[i]), f"frame {i} differs"
        assert np.array_equal(v.gray(17), cv2.cvtColor(ref[17], cv2.COLOR_BGR2GRAY))
        assert np.array_equal(v.read(3, "gray"), cv2.cvtColor(ref[3], cv2.COLOR_BGR2GRAY))


def test_sequential_access_never_seeks(videos: dict[str, Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ref, _ = straight_decode(videos["h264"])
    v = open_video(videos["h264"])
    seeks: list[int] = []
    orig = ContainerVideo._seek_before
    monkeypatch.setattr(ContainerVideo, "_seek_before",
                        lambda self, i, extra: seeks.append(i) or orig(self, i, extra))
    for i in range(N):
        assert np.array_equal(v.frame(i), ref[i])
    assert seeks == []  # open decoded frame 0 and left the decoder at frame 1
    seeks.clear()
    got = list(v.iter_frames(10, 40, 3))
    assert [i for i, _ in got] == list(range(10, 40, 3))
    assert all(np.array_equal(img, ref[i]) for i, img in got)
    assert seeks == [10]  # once, because frame 47 left the decoder at the end
    grays = list(v.iter_frames(40, mode="gray"))
    assert [i for i, _ in grays] == list(range(40, N))
    assert np.array_equal(grays[0][1], cv2.cvtColor(ref[40], cv2.COLOR_BGR2GRAY))
    v.close()


def test_returned_frames_are_owned_by_caller(videos: dict[str, Path]) -> None:
    with open_video(videos["mjpg"]) as v:
        a = v.frame(4)
        a[:] = 0  # must not poison the cache
        assert v.frame(4).any()


def test_timestamps_and_fps_constant_rate(videos: dict[str, Path]) -> None:
    _, times = straight_decode(videos["h264"])
    with open_video(videos["h264"]) as v:
        ts = v.timestamps
        assert ts.dtype == np.float64 and ts.shape == (N,)
        np.testing.assert_allclose(ts, np.asarray(times) - times[0], atol=1e-9)
        assert v.fps == pytest.approx(30) and v.fps_source == "container" and v.fps_declared
        assert v.fps_measured == pytest.approx(30)
        assert not v.is_vfr
        assert v.time_of(30) == pytest.approx(1.0)
        assert v.index_at(1.0) == 30 and v.index_at(1.01) == 30 and v.index_at(-5) == 0
    with open_video(videos["mjpg"], fps=200) as v:  # caller knows the capture rate
        assert v.fps == 200 and v.fps_source == "caller" and v.fps_declared
        np.testing.assert_allclose(v.timestamps, np.arange(N) / 200)
        assert v.fps_measured == pytest.approx(30)  # the file's own timing


def test_variable_frame_rate_keeps_indices_and_times(videos: dict[str, Path]) -> None:
    ref, _ = straight_decode(videos["vfr"])
    with open_video(videos["vfr"]) as v:
        assert v.n_frames == N and v.is_vfr
        np.testing.assert_allclose(v.timestamps, np.asarray(VFR_MS) / 1000, atol=1e-6)
        for i in (7, 4, 0, 3, 30):  # presentation order, irregular spacing
            assert np.array_equal(v.frame(i), ref[i])
        assert v.index_at(0.205) == 4  # frame at 200 ms is on screen at 205 ms
        assert v.fps_measured == pytest.approx((N - 1) / (VFR_MS[-1] / 1000))


def test_index_errors_and_close(videos: dict[str, Path]) -> None:
    v = open_video(videos["mjpg"])
    for bad in (-1, N, 10**9):
        with pytest.raises(IndexError):
            v.frame(bad)
    assert v.frame(np.int64(2)).shape == (H, W, 3)
    v.close()
    with pytest.raises(VideoError, match="closed"):
        v.frame(0)


# -- containers: bad input ------------------------------------------------------------

def test_missing_and_non_video_files(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="does not exist") as e:
        open_video(tmp_path / "nope.mp4")
    assert e.value.path == tmp_path / "nope.mp4"
    txt = tmp_path / "notes.mp4"
    txt.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="cannot be opened as a video") as e:
        open_video(txt)
    assert str(txt) in str(e.value) and e.value.usable_frames == 0
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(VideoError):
        open_video(empty)


def test_truncated_mp4_moov_at_end(videos: dict[str, Path], tmp_path: Path) -> None:
    cut = cut_in_half(videos["h264"], tmp_path / "cut.mp4")
    with pytest.raises(VideoError) as e:
        open_video(cut)
    assert str(cut) in str(e.value) and e.value.usable_frames == 0


@pytest.mark.parametrize("key,suffix", [("mjpg", ".avi"), ("faststart", ".mp4")])
def test_truncated_file_reports_usable_frames(videos: dict[str, Path], tmp_path: Path,
                                              key: str, suffix: str) -> None:
    ref, _ = straight_decode(videos[key])
    cut = cut_in_half(videos[key], tmp_path / f"cut{suffix}")
    with pytest.raises(VideoError, match="truncated") as e:
        open_video(cut)
    usable = e.value.usable_frames
    assert usable is not None and N // 4 < usable < N
    assert str(cut) in str(e.value)

    with open_video(cut, partial=True) as v:
        assert v.problems and v.n_frames == usable
        for i in (usable - 1, 0, usable // 2):
            assert np.array_equal(v.frame(i), ref[i])
        with pytest.raises(IndexError):
            v.frame(usable)
        with pytest.raises(VideoError) as e2:
            v.validate()
        assert e2.value.usable_frames == usable


def test_validate_healthy_video(videos: dict[str, Path]) -> None:
    seen: list[tuple[int, int]] = []
    with open_video(videos["h264"]) as v:
        assert v.validate(lambda done, total: seen.append((done, total))) == N
        assert seen[-1] == (N, N)
        assert np.array_equal(v.frame(3), straight_decode(videos["h264"])[0][3])


def test_corrupt_payload_is_a_video_error(videos: dict[str, Path], tmp_path: Path) -> None:
    """Garbage in the middle of an AVI: any failure surfaces as VideoError, never raw."""
    b = bytearray(videos["mjpg"].read_bytes())
    mid = len(b) // 2
    b[mid: mid + 4000] = bytes(random.Random(1).randrange(256) for _ in range(4000))
    bad = tmp_path / "garbled.avi"
    bad.write_bytes(bytes(b))
    try:
        v = open_video(bad, partial=True)
    except VideoError:
        return
    with v:
        for i in range(v.n_frames):
            try:
                v.frame(i)
            except VideoError:
                pass
        with pytest.raises(VideoError):
            v.validate()


# -- frame folders --------------------------------------------------------------------

def write_folder(d: Path, names: list[str]) -> list[np.ndarray]:
    d.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        assert cv2.imwrite(str(d / name), pattern(k))
    return [cv2.imread(str(d / name)) for name in names]


def test_casme3_layout_unpadded_numbers(tmp_path: Path) -> None:
    d = tmp_path / "color"
    names = [f"{k}.jpg" for k in range(1, 13)]  # 1..12: lexical order would be wrong
    imgs = write_folder(d, names)
    (d / "notes.txt").write_text("ignored")
    (d / "._3.jpg").write_bytes(b"macOS resource fork")  # ignored hidden file
    with open_video(d) as v:
        assert isinstance(v, FrameFolderVideo) and v.n_frames == 12
        assert v.first_number == 1 and v.files[9].name == "10.jpg"
        assert v.size == (W, H)
        for i in (11, 0, 9, 1):
            assert np.array_equal(v.frame(i), imgs[i])
        assert v.fps == 30 and v.fps_source == "default" and not v.fps_declared
        assert v.fps_measured is None
        np.testing.assert_allclose(v.timestamps, np.arange(12) / 30)


def test_samm_layout_index_from_file_number(tmp_path: Path) -> None:
    d = tmp_path / "006_1"
    names = [f"006_1_{k:05d}.jpg" for k in range(101, 111)]
    imgs = write_folder(d, names)
    with open_video(d, fps=200) as v:
        assert v.n_frames == 10 and v.first_number == 101
        assert v.fps == 200 and v.fps_declared
        np.testing.assert_allclose(v.timestamps, np.arange(10) / 200)
        assert np.array_equal(v.frame(0), imgs[0]) and np.array_equal(v.frame(9), imgs[9])
        assert [i for i, _ in v.iter_frames(step=4)] == [0, 4, 8]


def test_generic_folder_natural_sort(tmp_path: Path) -> None:
    d = tmp_path / "generic"
    names = ["a1.png", "a2.png", "a10.png", "b1.png"]  # no single numbered pattern
    write_folder(d, ["a10.png", "a2.png", "b1.png", "a1.png"])
    with open_video(d) as v:
        assert [f.name for f in v.files] == names and v.first_number is None
        assert np.array_equal(v.frame(2), cv2.imread(str(d / "a10.png")))


def test_gap_is_an_error_naming_missing_numbers(tmp_path: Path) -> None:
    d = tmp_path / "gappy"
    nums = [1, 2, 3, 5, 6, 9, 10]
    write_folder(d, [f"{k}.jpg" for k in nums])
    with pytest.raises(VideoError, match=r"missing.*4, 7-8") as e:
        open_video(d)
    assert e.value.usable_frames == 3
    with open_video(d, fill_gaps=True) as v:
        assert v.n_frames == 10 and v.filled == (3, 6, 7)
        assert v.files[3].name == "5.jpg" and v.files[6].name == "9.jpg"
        assert np.array_equal(v.frame(3), v.frame(4))  # 4 served by 5
        assert np.array_equal(v.frame(7), cv2.imread(str(d / "9.jpg")))
        assert v.validate() == 10


def test_duplicate_frame_number(tmp_path: Path) -> None:
    d = tmp_path / "dup"
    write_folder(d, ["1.jpg", "2.jpg", "02.png"])
    with pytest.raises(VideoError, match="two files for frame number 2"):
        open_video(d)


def test_empty_and_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no frames here")
    with pytest.raises(VideoError, match="no images") as e:
        open_video(tmp_path / "empty")
    assert e.value.usable_frames == 0
    with pytest.raises(VideoError, match="does not exist"):
        FrameFolderVideo(tmp_path / "missing")


def test_corrupt_image_names_the_file(tmp_path: Path) -> None:
    d = tmp_path / "corrupt"
    write_folder(d, [f"{k}.jpg" for k in range(1, 7)])
    (d / "4.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with open_video(d) as v:
        assert np.array_equal(v.frame(2), cv2.imread(str(d / "3.jpg")))
        with pytest.raises(VideoError, match="frame 3") as e:
            v.frame(3)
        assert e.value.path == d / "4.jpg"
        with pytest.raises(VideoError) as e:
            v.validate()
        assert e.value.usable_frames == 3


def test_differently_sized_frame(tmp_path: Path) -> None:
    d = tmp_path / "sizes"
    write_folder(d, [f"{k}.png" for k in range(1, 20)])
    cv2.imwrite(str(d / "18.png"), pattern(0, 64, 48))
    with open_video(d) as v:
        assert v.size == (W, H)
        v.frame(16)
        with pytest.raises(VideoError, match=r"frame 17 \(.*18\.png\) is 64x48, expected 160x120"):
            v.frame(17)
        with pytest.raises(VideoError) as e:
            v.validate()
        assert e.value.usable_frames == 17
    with pytest.raises(VideoError, match="is 64x48"):
        open_video(d).validate()


def test_all_sources_share_the_interface(videos: dict[str, Path], tmp_path: Path) -> None:
    d = tmp_path / "f"
    write_folder(d, [f"{k}.png" for k in range(1, 4)])
    for src in (open_video(d), open_video(videos["mjpg"])):
        with src as v:
            assert isinstance(v, VideoSource)
            assert len(list(v)) == v.n_frames
            assert v.timestamps.flags.writeable is False


def test_bad_fps_is_rejected(tmp_path: Path) -> None:
    d = tmp_path / "f"
    write_folder(d, ["1.png"])
    for bad in (0, -30, float("nan"), float("inf")):      # a user's input error naming the video (exit 1), not a bug
        with pytest.raises(VideoError, match=r"/f: fps must be a positive number"):
            open_video(d, fps=bad)


def test_display_rotation_is_applied(tmp_path: Path) -> None:
    """Phone videos store a rotation; frames come out upright, as OpenCV shows them."""
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.set_display_rotation(90)
        for i in range(6):
            for p in s.encode(av.VideoFrame.from_ndarray(pattern(i), format="bgr24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    ref, _ = straight_decode(path)
    with open_video(path) as v:
        assert v.rotation == 90 and v.size == (H, W)
        for i in (5, 2):
            assert np.array_equal(v.frame(i), np.rot90(ref[i]))
        assert v.frame(0).shape == (W, H, 3)
    cap = cv2.VideoCapture(str(path))
    ok, upright = cap.read()
    cap.release()
    assert ok and np.array_equal(upright, np.rot90(ref[0]))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(0, N - 1), min_size=1, max_size=25), st.sampled_from(["h264", "vfr"]))
def test_any_access_pattern_is_exact(videos: dict[str, Path], refs: dict[str, list[np.ndarray]],
                                     order: list[int], key: str) -> None:
    """Whatever mix of jumps, repeats and runs a viewer makes, frame(i) is frame i."""
    v = open_video(videos[key], cache_size=2)
    try:
        for i in order:
            assert np.array_equal(v.frame(i), refs[key][i]), f"frame {i}"
            if i + 1 < N:
                assert np.array_equal(v.frame(i + 1), refs[key][i + 1])
    finally:
        v.close()


def test_exact_even_when_the_demuxer_lands_late(videos: dict[str, Path],
                                                refs: dict[str, list[np.ndarray]]) -> None:
    """A seek that lands one keyframe too late (some demuxers do) costs time, not accuracy."""
    with open_video(videos["h264"], cache_size=0) as v:
        assert isinstance(v, ContainerVideo) and len(v._kf_idx) >= 3
        v._kf_ts = np.append(v._kf_ts[1:], v._kf_ts[-1])  # every seek one keyframe late
        for i in (40, 14, 30, 13, 25, 2):
            assert np.array_equal(v.frame(i), refs["h264"][i])


def test_opencv_written_avi_agrees_with_opencv_reading(tmp_path: Path) -> None:
    """An MJPG AVI from cv2.VideoWriter: frame(i) is the frame OpenCV reads i-th."""
    path = tmp_path / "cv.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (W, H))
    for i in range(20):
        w.write(pattern(i))
    w.release()
    cap = cv2.VideoCapture(str(path))
    cv_frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        cv_frames.append(f.astype(np.int16))
    cap.release()
    assert len(cv_frames) == 20
    with open_video(path) as v:
        assert v.n_frames == 20 and v.fps == 25 and v.fps_declared
        for i in (13, 2, 19, 0, 7):
            diffs = [np.abs(v.frame(i).astype(np.int16) - f).mean() for f in cv_frames]
            assert int(np.argmin(diffs)) == i and diffs[i] < 1.0
