"""The project store in the window: the browser, Analyze (worker and controller), export, the demo project."""
