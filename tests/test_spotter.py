"""The model-free spotter (metst_engine.baseline) on a scripted face video with the issue-16 failure cases.

One 10-s video (240 px, the harder ``SynthConfig.varied`` noise, drift and head roll) holds
a clear brow raise, a macro-expression smile with a brow movement inside it, a blink, a
small lip-corner pull (0.7 px of a 320 frame) and a second, shorter blink. Features
are extracted once per module (the spotter's own ROI set and alignment, window 50: what
``metst predict`` uses). Ground truth: the three micro-expressions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from metst_engine.analysis import LEGACY_ROIS, SPOTTER_ALIGNMENT, SPOTTER_ROIS
from metst_engine.baseline import BaselineParams, baseline_curves, spot
from metst_engine.baseline_legacy import legacy_spot
from metst_engine.curves import chained_displacement, roi_groups, select_rois, stitched_flow
from metst_engine.evaluation import interval_iou
from metst_engine.features import ExtractParams, FeatureSet
from metst_engine.intervals import Interval
from metst_engine.synth import Event, SynthConfig, make_subject, render_video

EVENTS = [Event("micro", 40, 46, 52, "AU1+2", "surprise", 1.0),
          Event("macro", 80, 105, 130, "AU12", "positive", 3.0),
          Event("micro", 95, 99, 104, "AU4", "negative", 1.0),          # inside the smile, another region
          Event("blink", 160, 165, 170, "AU45", None, 0.9),             # 0.37 s: as long as a micro-expression
          Event("micro", 210, 214, 219, "AU12", "positive", 0.7),       # small lip-corner pull
          Event("blink", 250, 253, 256, "AU45", None, 0.9)]
MICROS = [Interval(e.onset, e.offset, e.apex) for e in EVENTS if e.kind == "micro"]


@pytest.fixture(scope="module")
def feats(tmp_path_factory, landmark_model) -> FeatureSet:
    from metst_engine.extraction import extract_video

    out = tmp_path_factory.mktemp("spotter")
    cfg = SynthConfig.varied(seconds=10.0, size=240)
    subject = make_subject(0, np.random.default_rng([7, 0]), cfg.size, landmark_model)
    video = render_video(out / "scripted.mp4", subject, EVENTS, cfg, np.random.default_rng(7))
    return extract_video(video, ExtractParams(rois=SPOTTER_ROIS, window=50, alignment=SPOTTER_ALIGNMENT),
                         cache_dir=out / "cache")


def _matches(found: list[Interval]) -> list[Interval | None]:
    """For each true micro-expression, the spot that matches it at IoU >= 0.5 (None if none)."""
    return [next((iv for iv in found if interval_iou(gt, iv) >= 0.5), None) for gt in MICROS]


def test_finds_every_micro_expression_and_nothing_else(feats):
    found = spot(feats)
    assert all(m is not None for m in _matches(found)), found
    assert len(found) == len(MICROS), found           # no blink, no piece of the smile, no echo
    for gt, iv in zip(MICROS, found):
        assert abs(iv.apex - gt.apex) <= 2 and iv.score > BaselineParams().threshold


def test_the_earlier_spotter_fails_on_the_same_video(feats):
    """What issue 16 is about (so the test above can tell the two apart)."""
    legacy = legacy_spot(select_rois(feats, LEGACY_ROIS))
    assert any(m is None for m in _matches(legacy)) or len(legacy) != len(MICROS)


def test_smile_is_one_macro_event_and_blinks_are_told_apart_by_the_lower_lids(feats):
    curves = baseline_curves(feats)
    mouth_macros = [e for e in curves.events if e.group == "mouth" and e.kind == "macro" and e.onset <= 105 <= e.offset]
    assert len(mouth_macros) >= 1 and mouth_macros[0].offset - mouth_macros[0].onset >= 30
    blinks = [e for e in curves.events if e.kind == "blink"]
    for b in (EVENTS[3], EVENTS[5]):
        assert any(e.group == "eyes" and e.onset <= b.apex <= e.offset for e in blinks)
    # without the eyelid ROIs the brows' share of a blink looks like a micro-expression
    no_eyes = BaselineParams(rois=tuple(n for n, g in roi_groups(feats).items() if g != "eyes"))
    assert any(iv.onset <= EVENTS[3].apex <= iv.offset for iv in spot(feats, no_eyes))


def test_each_region_is_judged_against_its_own_noise(feats):
    """Mouth motion 20x larger in pixels (signal and noise alike) changes no decision."""
    louder = feats.features.copy()
    mouth = [i for i, c in enumerate(feats.channel_names) if roi_groups(feats).get(c[:-2]) == "mouth"]
    louder[:, mouth] *= 20.0
    scaled = spot(replace(feats, features=louder))
    assert [(iv.onset, iv.offset) for iv in scaled] == [(iv.onset, iv.offset) for iv in spot(feats)]


def test_curve_and_threshold_explain_the_spots(feats):
    """The GUI's curve (noise units) crosses its threshold at every spot's apex and nowhere near the blinks."""
    curves = baseline_curves(feats)
    assert len(curves.combined) == (feats.n_windows + 1) * feats.k // 2 and curves.threshold == BaselineParams().threshold
    for iv in spot(feats):
        assert curves.combined[iv.apex] >= curves.threshold
    assert np.median(curves.combined) < curves.threshold / 2         # quiet frames sit a few noise units low


def test_chained_displacement_undoes_the_window_references():
    """Windows measure from their own first frame; chaining restores one continuous trace."""
    rng = np.random.default_rng(0)
    k, n_windows, channels = 10, 7, 4
    truth = np.cumsum(rng.normal(0, 1, ((n_windows + 1) * k // 2, channels)), axis=0)
    truth -= truth[0]
    windows = np.stack([(truth[w * k // 2:w * k // 2 + k] - truth[w * k // 2]).T for w in range(n_windows)])
    fs = FeatureSet(windows.astype(np.float32), [f"r{i // 2}_{'xy'[i % 2]}" for i in range(channels)],
                    np.arange(n_windows) * k // 2, np.ones(n_windows, bool), np.zeros((n_windows, 4), np.int64),
                    len(truth), 30.0, 1, k, {})
    np.testing.assert_allclose(chained_displacement(fs), truth, atol=1e-4)
    assert np.abs(stitched_flow(fs)[:len(truth)] - truth).max() > 1.0      # the plain stitching jumps


def test_params_are_validated():
    for bad in (dict(threshold=0), dict(group_top=0), dict(min_seconds=0.5, max_seconds=0.3), dict(passes=0)):
        with pytest.raises(ValueError):
            BaselineParams(**bad).validate()


def test_the_docs_quote_the_spotter_defaults():
    """docs/engine.md and the user guide state the numbers; a changed default must change them too."""
    from pathlib import Path

    docs = Path(__file__).resolve().parent.parent / "docs"
    engine, guide = (" ".join((docs / name).read_text(encoding="utf-8").split()) for name in ("engine.md", "user-guide.md"))
    p = BaselineParams()
    for phrase in (f"its threshold is {p.threshold:g}", f"wider than {p.max_seconds:g} s at half height",
                   f"evidence ≥ {p.macro_threshold:g}", f"evidence ≥ {p.blink_threshold:g}",
                   f"a {p.baseline_seconds:g}-s neutral face", f"its {round(100 * p.group_top)} % most moved"):
        assert phrase in engine, phrase
    assert f"the threshold is {p.threshold:g}" in guide


def test_predict_refuses_a_threshold_that_is_not_positive(tmp_path, capsys):
    from metst_engine.cli import main
    from metst_engine.resources_path import resource_path

    demo = str(resource_path("demo", "demo_face.mp4"))
    assert main(["predict", demo, "-o", str(tmp_path / "p.csv"), "--floor", "0"]) == 2
    assert "--floor" in capsys.readouterr().err and not (tmp_path / "p.csv").exists()
