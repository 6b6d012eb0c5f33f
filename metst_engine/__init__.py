"""metst engine: video access, face ROIs, optical-flow features, ME-TST models, evaluation.

A library first: no Qt, no global state. The GUI (`metst_gui`) and the `metst`
command are thin layers over these modules.
"""

import os as _os

__version__ = "0.1.0"

# torch's OpenMP workers spin for milliseconds after every parallel op unless told to wait
# passively. The numba kernels of the Mamba layers (models/fused.py) run on their own threads
# right after such ops, so on a 2-core machine they shared a core with a spinning worker: a
# training step of ME-TST+ took 7x the CPU time of its passive-wait run on a loaded machine
# (bench/train_step_bench.py). A short spin before sleeping (GOMP_SPINCOUNT 300, some
# microseconds) still catches the next op of a run of small ones: the 2-thread ME-TST+ step ran
# 3-4% faster on an idle machine than with no spin (bench/train_step_bench.py --compare-spin 3;
# single rounds vary by more), and the same with another process busy (the
# library's default of 300,000 cost 7x there). Only defaults: values the user set win, and they
# take effect only where torch has not been imported yet (libgomp reads them when it loads).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("GOMP_SPINCOUNT", "300")
