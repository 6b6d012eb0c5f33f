"""Reviewing a video's intervals: the session that dispatches keys to the engine's review model, the
interval table, the stacked curves (timeline) and the annotator agreement view."""
