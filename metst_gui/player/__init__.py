"""The frame-accurate player: frames decoded off the GUI thread, their cache, and the single-video viewer."""
