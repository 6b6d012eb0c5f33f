"""How the face crop follows the head during a window (``ExtractParams.alignment``).

Kept apart from ``features`` (OpenCV, dlib) so that checkpoint validation and training
settings can name the choices without loading them.

"public" (default): as the authors' public code: the integer face box from landmarks 39/42
clipped at the image edge and resized bilinearly, landmarks refitted on a face detected in
the crop, and the head-motion shift by round(v) SOURCE pixels for a nose-reference motion v
measured in CROP pixels (the code's unit slip), up to 3 times per frame.

"improved": metst's variant: an unclipped square box warped with sub-pixel accuracy, a
coarse registration of the whole crop before the nose-reference loop (Farneback on the small
nose patch fails for head moves beyond ~1 source px), and the shift converted to source
pixels (v x box side / crop side) without rounding.
"""

ALIGNMENTS: tuple[str, ...] = ("public", "improved")
DEFAULT_ALIGNMENT = "public"
#: What a checkpoint written before the field existed was trained on.
LEGACY_ALIGNMENT = "improved"
