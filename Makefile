# Convenience targets; everything real lives in packaging/.
.PHONY: package test screenshots icon

package:        ## one-folder app in dist/metst/ (PyInstaller, CPU torch) + smoke test
	bash packaging/build.sh

test:
	bash packaging/dev.sh test

screenshots:    ## docs/images/*.png and docs/keyboard.md from the real app (needs xvfb-run)
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/make_screenshots.py

icon:
	QT_QPA_PLATFORM=offscreen .venv/bin/python packaging/render_icon.py
