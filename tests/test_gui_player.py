"""The player shows exactly VideoSource.frame(i) after seek/step/jump, renders only the last of a
burst of seeks, plays at a speed, pauses, loops inside a range and navigates intervals."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from metst_engine.resources_path import resource_path
from metst_engine.video import open_video
from metst_engine.video.writer import write_video

DEMO = Path(str(resource_path("demo", "demo_face.mp4")))
WAIT_MS = 20_000


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory) -> Path:
    """A small H.264 file with a keyframe every 20 frames and B-frames (what makes seeking hard)."""
    path = tmp_path_factory.mktemp("video") / "gop20_bframes.mp4"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)

    def frames():
        for i in range(120):
            img = np.roll(base, 2 * i, axis=1)
            img[:8, : i % 128] = 255                  # a bar whose length is the frame number
            yield img

    return write_video(path, frames(), size=(128, 72), rate=25,
                       options={"g": "20", "keyint_min": "20", "sc_threshold": "0", "bf": "2", "preset": "veryfast"})


def make_player(qtbot, path: Path, **provider_kw):
    from metst_gui.player.frame_provider import FrameProvider
    from metst_gui.player.player import Player

    video = open_video(path)
    provider = FrameProvider(video, **provider_kw)
    player = Player(video, provider)
    qtbot.addWidget(player)
    player.resize(640, 480)
    player.show()
    qtbot.waitExposed(player)
    return player, provider, video


@pytest.fixture
def gop_player(qtbot, gop_video):
    player, provider, video = make_player(qtbot, gop_video)
    yield player
    player.pause()
    provider.close()
    video.close()


@pytest.fixture
def demo_player(qtbot):
    player, provider, video = make_player(qtbot, DEMO)
    yield player
    player.pause()
    provider.close()
    video.close()


def wait_exact(qtbot, player, index: int) -> None:
    qtbot.waitUntil(lambda: player.shown_index == index and player.shown_exact, timeout=WAIT_MS)


def test_seek_step_and_jump_show_the_exact_frame(qtbot, gop_player, gop_video):
    player = gop_player
    with open_video(gop_video) as ref:
        for action, expected in ((lambda: player.seek(57), 57), (lambda: player.step(1), 58),
                                 (lambda: player.step(-1), 57), (lambda: player.step(-20), 37),
                                 (lambda: player.jump_seconds(1.0), 62), (lambda: player.jump_seconds(-1.0), 37),
                                 (lambda: player.seek(10_000), 119), (lambda: player.seek(-5), 0)):
            action()
            assert player.index == expected
            wait_exact(qtbot, player, expected)
            assert np.array_equal(player.shown_bgr(), ref.frame(expected))


def test_a_burst_of_50_seeks_renders_only_the_last(qtbot, gop_player, gop_video):
    player = gop_player
    wait_exact(qtbot, player, 0)
    shown: list[tuple[int, bool]] = []
    player.frameShown.connect(lambda i, exact: shown.append((i, exact)))
    targets = np.random.default_rng(3).integers(1, 120, 50)
    for t in targets:
        player.seek(int(t))
    last = int(targets[-1])
    wait_exact(qtbot, player, last)
    qtbot.wait(200)                                    # nothing older may arrive afterwards
    assert {i for i, _ in shown} == {last}
    with open_video(gop_video) as ref:
        assert np.array_equal(player.shown_bgr(), ref.frame(last))


def test_play_advances_at_the_speed_and_pause_stops(qtbot, demo_player):
    player = demo_player
    player.set_speed(2.0)
    assert player.speed == 2.0
    player.play()
    assert player.is_playing()
    qtbot.waitUntil(lambda: player.index >= 20, timeout=WAIT_MS)
    player.pause()
    assert not player.is_playing()
    stopped = player.index
    qtbot.wait(300)
    assert player.index == stopped
    wait_exact(qtbot, player, stopped)                  # the paused frame is the exact one
    with open_video(DEMO) as ref:
        assert np.array_equal(player.shown_bgr(), ref.frame(stopped))


def test_speed_is_clamped_to_the_supported_range(demo_player):
    demo_player.set_speed(10)
    assert demo_player.speed == 4.0
    demo_player.set_speed(0.001)
    assert demo_player.speed == 0.05


def test_playing_with_a_loop_stays_inside_the_range(qtbot, demo_player):
    player = demo_player
    seen: list[int] = []
    player.positionChanged.connect(lambda i, _t: seen.append(i))
    player.seek(100)
    player.set_loop_range(30, 45)
    player.set_speed(4.0)
    player.play()                                       # outside the loop: starts at its onset
    assert player.index == 30

    def wrapped() -> bool:
        looped = seen[seen.index(30):]
        return any(b < a for a, b in itertools.pairwise(looped))

    qtbot.waitUntil(wrapped, timeout=WAIT_MS)
    player.pause()
    looped = seen[seen.index(30):]
    assert looped and all(30 <= i <= 45 for i in looped)
    assert max(looped) >= 43                            # it reached the end before wrapping


def test_previous_next_and_loop_follow_the_intervals(qtbot, demo_player):
    player = demo_player
    player.set_intervals([(150, 162), (60, 69)])
    player.seek(0)
    player.next_interval()
    assert player.index == 60
    player.next_interval()
    assert player.index == 150
    player.next_interval()
    assert player.index == 150                          # no interval after the last
    player.previous_interval()
    assert player.index == 60
    player.loop_current_interval()
    assert player.loop_range == (60, 69)
    player.next_interval()
    assert player.loop_range == (150, 162) and player.index == 150
    player.toggle_loop()
    assert player.loop_range is None


def test_zoom_to_the_face_box_shows_that_part_of_the_frame(qtbot, demo_player, artifacts_dir):
    player = demo_player
    player.seek(64)
    wait_exact(qtbot, player, 64)
    assert not player.zoom_button.isEnabled()           # no face box yet
    player.set_face_box((80, 20, 240, 200))
    player.set_zoom_to_face(True)
    rect = player.view.visible_source_rect()
    assert (rect.x(), rect.y(), rect.width(), rect.height()) == (80, 20, 160, 180)
    target = player.view.target_rect()
    assert abs(target.width() / target.height() - 160 / 180) < 1e-6
    player.grab().save(str(artifacts_dir / "player_face_zoom.png"))
    player.set_zoom_to_face(False)
    assert player.view.visible_source_rect().width() == 320


def test_a_proxy_preview_is_replaced_by_the_exact_frame(qtbot, gop_video, tmp_path):
    from metst_engine.video.proxy import build_proxy, proxy_size

    with open_video(gop_video) as src:
        proxy = build_proxy(src, tmp_path / "proxy.mp4", max_side=64)
    assert proxy is not None
    with open_video(proxy) as pv, open_video(gop_video) as ref:
        assert pv.n_frames == ref.n_frames and pv.size == proxy_size(128, 72, 64)
        assert len(pv.keyframe_indices) == pv.n_frames                  # all intra
        for i in (0, 39, 77, 119):                                      # proxy frame i is source frame i
            small = pv.frame(i).astype(float)
            near = range(max(0, i - 3), min(120, i + 4))
            errors = [np.abs(small - cv2.resize(ref.frame(j), pv.size, interpolation=cv2.INTER_AREA)).mean()
                      for j in near]
            assert list(near)[int(np.argmin(errors))] == i
    player, provider, video = make_player(qtbot, gop_video, proxy=proxy)
    try:
        kinds: list[tuple[int, bool]] = []
        player.frameShown.connect(lambda i, exact: kinds.append((i, exact)))
        player.seek(97)
        wait_exact(qtbot, player, 97)
        assert kinds[-1] == (97, True) and all(i == 97 for i, _ in kinds)
        assert np.array_equal(player.shown_bgr(), open_video(gop_video).frame(97))
    finally:
        provider.close()
        video.close()


def test_the_provider_builds_a_proxy_for_long_gop_files(qtbot, gop_video, tmp_path):
    from metst_gui.player.frame_provider import FrameProvider, wants_proxy

    with open_video(gop_video) as video:
        assert wants_proxy(video)                       # keyframes 20 frames apart
        provider = FrameProvider(video, proxy=True, proxy_dir=tmp_path)
        try:
            with qtbot.waitSignal(provider.proxyAvailable, timeout=60_000) as sig:
                pass
            assert Path(sig.args[0]).parent == tmp_path and provider.has_proxy
        finally:
            provider.close()
        with open_video(sig.args[0]) as proxy:
            assert proxy.n_frames == video.n_frames and not wants_proxy(proxy)   # all intra
