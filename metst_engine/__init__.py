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
# (bench/train_step_bench.py). Only a default: an OMP_WAIT_POLICY the user set wins, and it
# takes effect only where torch has not been imported yet (libgomp reads it when it loads).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
