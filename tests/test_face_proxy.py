"""The face proxy: frame i of the proxy is source frame i's face crop, read alone; a damaged, cut, foreign
or cancelled proxy is never used; the player's face view shows it for an exact seek and falls back to
the source when a frame is damaged."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6 import QtCore

from metst_engine.curves_file import Curves
from metst_engine.errors import VideoError
from metst_engine.video import open_video, video_fingerprint
from metst_engine.video.face_proxy import (
    FaceCrop,
    build_face_proxy,
    ensure_face_proxy,
    face_crop_from_curves,
    face_proxy_path,
    find_face_proxy,
    index_path,
    open_face_proxy,
    stable_face_crop,
)
from metst_engine.video.writer import write_video

W, H, N = 320, 240, 60
# JPEG at qscale 3 of a 4:2:0 crop measures 35.1 dB at worst (mean 37.3) on this detail-dense 320x240 clip (41.5 dB
# on the bench's 1080p face) against the decoded source crop; the neighbouring frame (a 3 px pan) scores at
# most 18.3 dB. 32 dB (RMS error ~6.4 grey levels) leaves room for other libjpeg builds and still fails for a
# neighbouring frame, a shifted crop or a wrong colour conversion by a wide margin.
MIN_PSNR = 32.0
BOXES = np.array([[120, 60, 220, 180], [124, 62, 224, 182], [118, 58, 218, 178], [0, 0, 320, 240]])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def write_face_video(path: Path) -> Path:
    """A face photo (scikit-image's astronaut) panning 3 px a frame: keyframe every 25, B-frames."""
    from skimage import data

    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    base = cv2.resize(face, (W + 3 * N, H + 40), interpolation=cv2.INTER_AREA)
    frames = (base[20 - i % 20:20 - i % 20 + H, 3 * i:3 * i + W] for i in range(N))
    return write_video(path, frames, size=(W, H), rate=25,
                       options={"g": "25", "keyint_min": "25", "sc_threshold": "0", "bf": "2", "preset": "veryfast"})


@pytest.fixture(scope="module")
def face_video(tmp_path_factory) -> Path:
    return write_face_video(tmp_path_factory.mktemp("face") / "face_gop25.mp4")


@pytest.fixture(scope="module")
def crop() -> FaceCrop:
    return stable_face_crop(BOXES[:3], (W, H))


@pytest.fixture(scope="module")
def built(face_video, crop, tmp_path_factory) -> Path:
    with open_video(face_video) as v:
        dest = face_proxy_path(face_video, crop, tmp_path_factory.mktemp("proxies"))
        assert build_face_proxy(v, crop, dest) == dest
    return dest


def open_built(path: Path, video: Path, n: int = N):
    return open_face_proxy(path, source_fingerprint=video_fingerprint(video), n_frames=n)


def test_stable_crop_covers_the_face_boxes_with_a_margin_and_ignores_a_stray_box(crop):
    # the full-frame box is 1 of 4 (above the 98th percentile of the corners only when rare)
    many = np.vstack([np.repeat(BOXES[:3], 40, axis=0), BOXES[3:]])
    c = stable_face_crop(many, (W, H))
    assert all(v % 2 == 0 for v in c.as_tuple())
    assert c.x0 <= 118 and c.y0 <= 58 and c.x1 >= 224 and c.y1 >= 182       # every real box inside
    assert c.x0 >= 118 - 0.15 * 106 - 2 and c.x1 <= 224 + 0.15 * 106 + 2     # margin ~15 %, not the stray box
    assert crop.x0 >= 0 and crop.y0 >= 0 and crop.x1 <= W and crop.y1 <= H  # clipped to the frame
    with pytest.raises(ValueError):
        FaceCrop(1, 0, 10, 10)                                               # odd corner: 4:2:0 chroma


def test_proxy_frame_i_is_source_frame_i_cropped(built, face_video, crop):
    with open_built(built, face_video) as proxy, open_video(face_video) as src:
        assert proxy.n_frames == src.n_frames == N and proxy.size == (crop.width, crop.height)
        refs = [src.frame(i)[crop.y0:crop.y1, crop.x0:crop.x1] for i in range(N)]
        for i in np.random.default_rng(1).permutation(N):        # random order: each frame read alone
            got = proxy.frame(int(i))
            near = [j for j in range(max(0, i - 2), min(N, i + 3))]
            scores = [psnr(got, refs[j]) for j in near]
            assert scores[near.index(i)] >= MIN_PSNR
            assert near[int(np.argmax(scores))] == i                # not a neighbouring frame


def test_the_index_points_at_one_whole_jpeg_per_frame(built):
    with np.load(index_path(built)) as z:
        offsets, sizes = z["offsets"], z["sizes"]
    assert len(offsets) == N and np.all(np.diff(offsets) >= sizes[:-1]) and np.all(sizes > 0)
    raw = built.read_bytes()
    for o, s in zip(offsets, sizes):
        assert raw[o:o + 2] == b"\xff\xd8" and raw[o + s - 2:o + s] == b"\xff\xd9"   # JPEG start / end markers


def test_a_damaged_frame_is_refused_not_shown(built, face_video, tmp_path):
    bad = tmp_path / built.name
    bad.write_bytes(built.read_bytes())
    index_path(bad).write_bytes(index_path(built).read_bytes())
    with np.load(index_path(bad)) as z:
        o, s = int(z["offsets"][17]), int(z["sizes"][17])
    with open(bad, "r+b") as fh:                      # flip bytes inside frame 17's picture data
        fh.seek(o + s // 2)
        fh.write(b"\x00\x13\x37\x00")
    with open_built(bad, face_video) as proxy:
        proxy.frame(16)
        with pytest.raises(VideoError, match="frame 17 is damaged"):
            proxy.frame(17)


@pytest.mark.parametrize("damage", ["cut", "other video", "other length", "no index", "bad index"])
def test_an_unusable_proxy_is_refused_at_open(built, face_video, tmp_path, damage):
    path = tmp_path / built.name
    path.write_bytes(built.read_bytes())
    index_path(path).write_bytes(index_path(built).read_bytes())
    fingerprint, n, match = video_fingerprint(face_video), N, "face proxy"
    if damage == "cut":
        path.write_bytes(built.read_bytes()[: built.stat().st_size // 2])
        match = "incomplete"
    elif damage == "other video":
        fingerprint = "0" * 40
        match = "another video"
    elif damage == "other length":
        n = N + 1
        match = f"has {N} frames, the video {N + 1}"
    elif damage == "no index":
        index_path(path).unlink()
        match = "no finished face proxy"
    else:
        index_path(path).write_bytes(b"not an index")
        match = "index is unreadable"
    with pytest.raises(VideoError, match=match) as info:
        open_face_proxy(path, source_fingerprint=fingerprint, n_frames=n)
    assert path.stem in str(info.value)               # the message names the file


def test_cancel_leaves_no_file(face_video, crop, tmp_path):
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 30

    with open_video(face_video) as v:
        dest = face_proxy_path(face_video, crop, tmp_path)
        assert build_face_proxy(v, crop, dest, cancel=cancel) is None
    assert len(calls) == 31 and list(tmp_path.iterdir()) == []


def test_ensure_builds_once_from_the_curves_file_and_find_finds_it(face_video, tmp_path):
    curves = tmp_path / "v_curves.npz"
    Curves(n_frames=N, fps=25.0, face_box=tuple(np.median(BOXES[:3], axis=0)), face_boxes=BOXES[:3]).save(curves)
    progress: list[tuple[int, int]] = []
    path = ensure_face_proxy(face_video, curves, tmp_path / "proxies", progress=lambda d, t: progress.append((d, t)))
    assert path is not None and progress[-1] == (N, N)
    stamp = path.stat().st_mtime_ns
    assert ensure_face_proxy(face_video, curves, tmp_path / "proxies") == path and path.stat().st_mtime_ns == stamp
    with open_video(face_video) as v:
        assert find_face_proxy(v, curves, tmp_path / "proxies") == path
    assert face_crop_from_curves(curves, (W, H)) == stable_face_crop(BOXES[:3], (W, H))
    old = tmp_path / "old_curves.npz"                          # curves written before face_boxes existed
    np.savez(old, n_frames=np.int64(N), fps=np.float64(25), face_box=np.median(BOXES[:3], axis=0).astype(float))
    wide = face_crop_from_curves(old, (W, H))
    assert wide is not None and wide.width > stable_face_crop(BOXES[:3], (W, H)).width
    none = tmp_path / "no_face_curves.npz"
    Curves(n_frames=N, fps=25.0).save(none)
    assert ensure_face_proxy(face_video, none, tmp_path / "proxies") is None


# ------------------------------------------------------------------ the face view in the player
def face_player(qtbot, video_path: Path, proxy: Path, box):
    from metst_gui.player.frame_provider import FrameProvider
    from metst_gui.player.player import Player

    video = open_video(video_path)
    provider = FrameProvider(video)
    player = Player(video, provider)
    player.install_shortcuts(player)
    qtbot.addWidget(player)
    player.resize(640, 480)
    player.show()
    qtbot.waitExposed(player)
    player.activateWindow()
    qtbot.waitUntil(player.isActiveWindow)                # the keys are window shortcuts
    player.set_face_box(box)
    errors: list[str] = []
    provider.failed.connect(lambda _i, msg: errors.append(msg))
    assert provider.use_face_proxy(proxy)
    return player, provider, video, errors


def wait_exact(qtbot, player, index: int) -> None:
    qtbot.waitUntil(lambda: player.shown_index == index and player.shown_exact, timeout=20_000)


def test_the_face_view_shows_the_proxy_frame_for_an_exact_seek_and_z_goes_back(qtbot, built, face_video, crop):
    from metst_gui.player.frame_cache import source_rect

    player, provider, video, errors = face_player(qtbot, face_video, built, tuple(np.median(BOXES[:3], axis=0)))
    try:
        assert player.zoom_button.isChecked() and provider.face_view_active     # face-first: zoomed at once
        with open_built(built, face_video) as proxy:
            for target in (43, 7, 31):                                # cold seeks, across GOPs
                player.seek(target)
                wait_exact(qtbot, player, target)
                assert np.array_equal(player.shown_bgr(), proxy.frame(target))
                r = source_rect(player.view.image, video.size)
                assert (r.x(), r.y(), r.right(), r.bottom()) == crop.as_tuple()
        assert 31 not in provider._full_cache                        # the whole frame was never decoded
        qtbot.keyClick(player, QtCore.Qt.Key.Key_Z)                  # whole frame, one key away
        qtbot.waitUntil(lambda: player.shown_exact and player.shown_bgr().shape[:2] == (H, W), timeout=20_000)
        assert np.array_equal(player.shown_bgr(), video.frame(31))
        qtbot.keyClick(player, QtCore.Qt.Key.Key_Z)                  # and back to the face
        assert player.zoom_button.isChecked() and provider.face_view_active
        assert errors == []
    finally:
        provider.close()
        video.close()


def test_a_damaged_proxy_frame_falls_back_to_the_source(qtbot, built, face_video, tmp_path):
    bad = tmp_path / built.name
    bad.write_bytes(built.read_bytes())
    index_path(bad).write_bytes(index_path(built).read_bytes())
    with np.load(index_path(bad)) as z:
        o, s = int(z["offsets"][40]), int(z["sizes"][40])
    with open(bad, "r+b") as fh:
        fh.seek(o + s // 2)
        fh.write(b"\xde\xad\xbe\xef")
    player, provider, video, errors = face_player(qtbot, face_video, bad, tuple(np.median(BOXES[:3], axis=0)))
    try:
        assert player.zoom_button.isChecked()                        # face-first: the face view at once
        player.seek(40)
        wait_exact(qtbot, player, 40)
        assert np.array_equal(player.shown_bgr(), video.frame(40))    # the source's frame, whole
        assert not provider.face_view_active and player.zoom_button.isChecked()
        assert len(errors) == 1 and "showing the source" in errors[0] and "frame 40 is damaged" in errors[0]
    finally:
        provider.close()
        video.close()


def test_a_proxy_of_another_video_is_not_used(qtbot, built, tmp_path):
    other = write_face_video(tmp_path / "other.mp4")
    with open(other, "ab") as fh:
        fh.write(b"\0" * 16)                                          # same frames, other file
    from metst_gui.player.frame_provider import FrameProvider

    with open_video(other) as video:
        provider = FrameProvider(video)
        errors: list[str] = []
        provider.failed.connect(lambda _i, msg: errors.append(msg))
        try:
            assert not provider.use_face_proxy(built)
            provider.set_face_view(True)
            assert not provider.face_view_active and "another video" in errors[0]
        finally:
            provider.close()


def test_the_review_window_builds_the_face_proxy_in_the_background_and_shows_it(qtbot, face_video, tmp_path):
    from project_support import project_with

    from metst_engine.project import Project
    from metst_gui.player.face_proxy_builder import FaceProxyJob
    from metst_gui.shell.main_window import MainWindow

    folder = tmp_path / "project"
    project_with(folder, {"v1": (face_video, "s1")}).close()
    curves = tmp_path / "v1_curves.npz"                      # what Analyze writes (save_curves)
    Curves(n_frames=N, fps=25.0, face_box=tuple(np.median(BOXES[:3], axis=0)), face_boxes=BOXES[:3]).save(curves)
    project = Project.open(folder, annotator="alice", read_only=False)
    project.register_curves("v1", curves)
    settings = QtCore.QSettings(str(tmp_path / "gui.ini"), QtCore.QSettings.Format.IniFormat)
    win = MainWindow(project, settings, proxy=False, owns_project=True)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    try:
        # analysed, no face proxy yet: opening the video builds it in the background, then the face view uses it
        qtbot.waitUntil(lambda: win.provider is not None and win.provider.face_proxy_file is not None, timeout=60_000)
        built = win.provider.face_proxy_file
        assert built.parent == project.cache_dir / "proxies"
        assert win.player.zoom_button.isChecked()                      # face-first: the face view at once
        win.player.seek(52)
        wait_exact(qtbot, win.player, 52)
        video = project.video("v1")
        with open_built(built, video.path) as proxy:
            assert np.array_equal(win.player.shown_bgr(), proxy.frame(52))
        stamp, worker = built.stat().st_mtime_ns, win.face_proxies.worker
        win.open_video(video.id)                                        # reopening finds it, starts nothing
        assert win.provider.face_proxy_file == built and win.face_proxies.worker is worker
        win.face_proxies.build([FaceProxyJob("v1", video.path, curves)])    # the Analyze hook: checks, keeps it
        qtbot.waitUntil(win.face_proxies.worker.isFinished, timeout=20_000)
        assert built.stat().st_mtime_ns == stamp
    finally:
        win.close()
    # an Analyze or a video load queued before the close must not start a thread the closed window would
    # take down with it (a segfault in CI)
    built.unlink()
    win.face_proxies.build([FaceProxyJob("v1", video.path, curves)])
    assert win.face_proxies.worker is None
