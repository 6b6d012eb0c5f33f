"""Draw the aligned crop with its landmarks and ROI boxes: to check by eye where features come from."""

from __future__ import annotations

import cv2
import numpy as np

from .face import FaceAlignment, crop_face
from .rois import RoiSet

_GROUP_COLOURS = {"brows": (0, 200, 255), "eyes": (255, 200, 0), "nose": (0, 255, 0), "mouth": (255, 0, 255),
                  "chin": (0, 128, 255)}


def draw_rois(gray: np.ndarray, alignment: FaceAlignment, roi_set: RoiSet, scale: int = 2) -> np.ndarray:
    """BGR image of the face crop (enlarged ``scale`` x) with landmarks, pooled ROI boxes and the nose reference."""
    crop = crop_face(gray, alignment.crop_box, roi_set.crop_size)
    img = cv2.cvtColor(cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC), cv2.COLOR_GRAY2BGR)
    lm = alignment.landmarks
    for roi in (*roi_set.rois, roi_set.reference):
        b = roi.pool_box(lm)
        colour = (0, 0, 255) if roi is roi_set.reference else _GROUP_COLOURS.get(roi.group, (255, 255, 255))
        cv2.rectangle(img, (b.x0 * scale, b.y0 * scale), (b.x1 * scale - 1, b.y1 * scale - 1), colour, 1)
        cv2.putText(img, roi.name, (b.x0 * scale + 2, b.y0 * scale + 10), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1)
    for x, y in lm:
        cv2.circle(img, (int(round(x * scale)), int(round(y * scale))), 2, (0, 0, 255), -1)
    return img
