"""metst desktop application (PySide6 + pyqtgraph): views over the engine and the project store."""

from metst_gui.qt_compat import protect_singletons_from_qt_leaks

protect_singletons_from_qt_leaks()   # before any widget emits or calls back (see qt_compat)
