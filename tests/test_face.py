"""Face detection, the aligned crop and ROI placement on a real face photo (skimage astronaut).

Reference points were read by eye from the 512 x 512 photo (source pixels, x right, y down):
pupils at (203, 101) and (245, 101), brows along y ~ 91 over x 190-215 and 237-265,
nose tip (224, 126), mouth centre (226, 145), mouth corners ~ (203, 143) and (249, 143).
The subject's right eye is the one on the image's left.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from metst_engine.errors import InputError
from metst_engine.face import Box, FaceTracker, crop_box_from_landmarks, crop_face, public_crop_box, to_source_coords
from metst_engine.overlay import draw_rois
from metst_engine.rois import load_roi_set, parse_roi_set


def source_box(alignment, roi) -> Box:
    b = roi.pool_box(alignment.landmarks)
    (x0, y0), (x1, y1) = to_source_coords(np.array([[b.x0, b.y0], [b.x1, b.y1]]), alignment.crop_box)
    return Box(int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))


def test_face_found_and_crop_follows_method(astronaut_alignment):
    al = astronaut_alignment
    assert al.face_box.contains(203, 101) and al.face_box.contains(245, 101) and al.face_box.contains(226, 145)
    # crop: 9g square, eye-corner midpoint at 3.5g from the top and centred horizontally
    lm = al.source_landmarks
    g = (lm[42, 0] - lm[39, 0]) / 2
    assert al.crop_box.width == al.crop_box.height == pytest.approx(9 * g, abs=1)
    cx, cy = (lm[39] + lm[42]) / 2
    assert al.crop_box.x0 == pytest.approx(cx - 4.5 * g, abs=1)
    assert al.crop_box.y0 == pytest.approx(cy - 3.5 * g, abs=1)
    # landmarks refitted on the crop agree with the source fit mapped into the crop (within 3 crop px)
    mapped = (lm - [al.crop_box.x0, al.crop_box.y0]) * 320 / al.crop_box.width
    assert np.median(np.abs(al.landmarks - mapped)) < 3


@pytest.mark.parametrize("set_name", ["metst", "metst_plus"])
def test_rois_land_on_the_right_face_parts(astronaut_gray, astronaut_alignment, set_name, artifacts_dir):
    al = astronaut_alignment
    rs = load_roi_set(set_name)
    boxes = {r.name: source_box(al, r) for r in rs.rois}
    expected_inside = {
        "brow_r": [(200, 91)], "brow_l": [(250, 91)], "mouth": [(226, 145), (205, 143), (247, 143)],
        "eye_r": [(203, 101)], "eye_l": [(245, 101)], "mouth_corner_r": [(203, 142)], "mouth_corner_l": [(249, 142)],
    }
    expected_outside = {"mouth": [(203, 101), (245, 101), (224, 126)], "brow_r": [(245, 101), (226, 145)],
                        "brow_l": [(203, 101), (226, 145)], "eye_r": [(245, 101)], "eye_l": [(203, 101)]}
    for name, pts in expected_inside.items():
        if name in boxes:
            for p in pts:
                assert boxes[name].contains(*p), f"{name} {boxes[name]} should contain {p}"
    for name, pts in expected_outside.items():
        if name in boxes:
            for p in pts:
                assert not boxes[name].contains(*p), f"{name} {boxes[name]} should not contain {p}"
    ref = source_box(al, rs.reference)
    assert ref.contains(225, 124), ref      # lower nose bridge, just above the tip (224, 126)
    # subject's right is on the image left
    assert boxes["brow_r"].center[0] < boxes["brow_l"].center[0]
    assert boxes["nose_wing_r"].center[0] < 224 < boxes["nose_wing_l"].center[0]
    cv2.imwrite(str(artifacts_dir / f"astronaut_rois_{set_name}.png"), draw_rois(astronaut_gray, al, rs))


def test_metst_channel_order_matches_public_code():
    rs = load_roi_set("metst")
    assert rs.roi_names == ["brow_r", "brow_l", "mouth", "nose_wing_r", "nose_wing_l"]
    assert rs.channel_names[:4] == ["brow_r_x", "brow_r_y", "brow_l_x", "brow_l_y"]
    assert [r.landmarks for r in rs.rois[:2]] == [tuple(range(17, 22)), tuple(range(22, 27))]
    plus = load_roi_set("metst_plus")
    assert plus.n_channels == 36 and len(set(plus.roi_names)) == 18
    # the authors' ME-TST+ order (feature_extraction.py, method_type=1), landmark by landmark
    assert [(r.name, r.landmarks if len(r.landmarks) == 1 else (r.landmarks[0], r.landmarks[-1])) for r in plus.rois] == [
        ("brow_r", (17, 21)), ("brow_r_inner", (20,)), ("brow_r_mid", (19,)), ("brow_r_outer", (18,)),
        ("brow_l", (22, 26)), ("brow_l_inner", (23,)), ("brow_l_mid", (24,)), ("brow_l_outer", (25,)),
        ("mouth", (48, 66)), ("mouth_corner_r", (48,)), ("mouth_corner_l", (54,)), ("upper_lip", (51,)),
        ("lower_lip", (57,)), ("upper_lip_inner", (62,)), ("nose_wing_r", (31,)), ("nose_wing_l", (35,)),
        ("lower_lid_r", (36, 41)), ("lower_lid_l", (42, 47))]
    # the 5-ROI set is ROIs 1, 5, 9, 15, 16 of it, with the same boxes
    same = {r.name: r for r in plus.rois}
    assert all(dataclasses.replace(same[r.name], region="") == dataclasses.replace(r, region="") for r in rs.rois)
    assert [plus.region_names().index(r.region) for r in plus.rois] == [0] * 4 + [1] * 4 + [2] * 6 + [3] * 2 + [4, 5]


def test_user_roi_set_from_a_file(tmp_path):
    (tmp_path / "mine.json").write_text('{"name": "mine", "reference": {"name": "ref", "landmarks": [29, 30], '
                                        '"pad": 13, "top_fraction": 0.7}, "rois": [{"name": "lip", '
                                        '"landmarks": [51, 57], "pad": 5, "top_fraction": 0.5}]}')
    rs = load_roi_set(tmp_path / "mine.json")
    assert rs.channel_names == ["lip_x", "lip_y"]


@pytest.mark.parametrize("doc, problem", [
    ('{"name": "x", "rois": [], "reference": {}}', "non-empty list"),
    ('{"name": "x", "reference": {"name": "r", "landmarks": [29], "top_fraction": 0.7}, '
     '"rois": [{"name": "a", "landmarks": [99], "top_fraction": 0.3}]}', "indices 0-67"),
    ('{"name": "x", "reference": {"name": "r", "landmarks": [29], "top_fraction": 0.7}, '
     '"rois": [{"name": "a", "landmarks": [1], "top_fraction": 1.5}]}', "top_fraction"),
    ('{"name": "x", "reference": {"name": "r", "landmarks": [29], "top_fraction": 0.7}, '
     '"rois": [{"name": "a", "landmarks": [1], "top_fraction": 0.3}, {"name": "a", "landmarks": [2], "top_fraction": 0.3}]}',
     "duplicate"),
    ('{not json', "not valid JSON"),
])
def test_bad_roi_set_names_file_and_field(tmp_path, doc, problem):
    f = tmp_path / "bad.json"
    f.write_text(doc)
    with pytest.raises(InputError) as err:
        load_roi_set(f)
    assert str(f) in str(err.value) and problem in str(err.value)


def test_unknown_roi_set_lists_available():
    with pytest.raises(InputError, match="metst_plus"):
        load_roi_set("no_such_set")


def test_tracker_keeps_first_face_when_a_larger_one_appears(astronaut_gray, landmark_model):
    """An interviewer entering the frame (a bigger face) must not steal the ROIs."""
    face = astronaut_gray[40:230, 130:320]
    big = cv2.resize(face, None, fx=1.5, fy=1.5)
    canvas = np.full((420, 760), 128, np.uint8)
    canvas[100:290, 30:220] = face
    first = canvas.copy()
    canvas[60:345, 400:685] = big
    tracker = FaceTracker(landmark_model)
    a = tracker.locate(first, 0)
    b = tracker.locate(canvas, 1)
    assert a is not None and b is not None
    assert len(landmark_model.detect(canvas)) == 2
    assert b.face_box.center[0] < 300 and abs(b.crop_box.x0 - a.crop_box.x0) <= 2
    # a fresh tracker on the two-face frame picks the largest
    c = FaceTracker(landmark_model).locate(canvas, 0)
    assert c is not None and c.face_box.center[0] > 400


def test_no_face_gives_none(landmark_model):
    noise = np.random.default_rng(0).integers(0, 255, (240, 320), dtype=np.uint8)
    assert FaceTracker(landmark_model).locate(noise, 0) is None


def test_crop_keeps_scale_at_image_border(astronaut_gray, astronaut_alignment):
    box = crop_box_from_landmarks(astronaut_alignment.source_landmarks)
    edge = Box(-20, -10, -20 + box.width, -10 + box.height)
    out = crop_face(astronaut_gray, edge)
    assert out.shape == (320, 320)
    # the part inside the image is the same pixels as a clipped crop, at the same scale
    inner = cv2.resize(astronaut_gray[0:box.height - 10, 0:box.width - 20],
                       (round(320 * (box.width - 20) / box.width), round(320 * (box.height - 10) / box.height)))
    assert np.abs(out[40:, 60:].astype(int) - inner[13:13 + 280, 5:5 + 260].astype(int)).mean() < 12


def test_crop_box_needs_two_eyes():
    lm = np.zeros((68, 2))
    with pytest.raises(ValueError):
        crop_box_from_landmarks(lm)


def test_parse_roi_set_pads_are_image_directions():
    rs = parse_roi_set({"name": "t", "reference": {"name": "r", "landmarks": [0], "top_fraction": 1},
                        "rois": [{"name": "a", "landmarks": [0, 1], "pad": {"up": 1, "down": 2, "left": 3, "right": 4},
                                  "trim": {"top": 1, "bottom": 0, "left": 0, "right": 1}, "top_fraction": 0.5}]})
    lm = np.zeros((68, 2))
    lm[0], lm[1] = (10, 20), (30, 25)
    assert rs.rois[0].flow_box(lm) == Box(7, 19, 34, 27)
    assert rs.rois[0].pool_box(lm) == Box(7, 20, 33, 27)


def test_public_crop_box_truncates_like_the_public_code():
    """Inner eye corners (100, 120) and (131, 121): g = int(15.5) = 15, centre (115, 120)."""
    lm = np.zeros((68, 2))
    lm[39], lm[42] = (100, 120), (131, 121)
    assert public_crop_box(lm, (480, 640)) == Box(115 - 67, 120 - 52, 115 + 67, 120 + 82)
    # near the top-left corner the box is clipped at 0 (no longer square), at the far side by the image
    lm[39], lm[42] = (10, 20), (41, 21)
    assert public_crop_box(lm, (90, 80)) == Box(0, 0, 25 + 67, 20 + 82).clipped(80, 90)


def test_lower_eyelid_box_from_the_eye_width():
    """rows [int(c + w/4), int(c + 3w/4)) with c the eye's vertical centre, w its width."""
    lid = load_roi_set("metst_plus").rois[16]
    assert lid.name == "lower_lid_r" and lid.trim == (5, 5, 5, 5)
    lm = np.zeros((68, 2))
    lm[36:42] = [(100, 121), (107, 118), (115, 118), (130, 121), (115, 124), (107, 124)]
    assert lid.flow_box(lm) == Box(100, int(121 + 7.5), 130, int(121 + 22.5))
    assert lid.pool_box(lm) == Box(105, 133, 125, 138)


def test_short_brow_field_keeps_its_bottom_rows():
    """The first brow ROI trims only 4 px at the bottom when 10 would leave under 3 rows."""
    from metst_engine.features import window_layout

    rs = load_roi_set("metst")
    lm = np.tile([160.0, 160.0], (68, 1))
    lm[17:22] = [(60, 12), (70, 10), (80, 10), (90, 10), (100, 12)]   # a brow near the crop's top
    lay = window_layout(rs, lm)
    region, pool = lay.regions[0], lay.rois[0][1]
    assert region == Box(55, 0, 100, 17)                               # rows clipped at 0: [-5, 17)
    assert (pool.y0, pool.y1) == (5, 13)                               # top trim 10 - 5 clipped, bottom 4
