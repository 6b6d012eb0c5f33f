"""keep_freed_memory: a model's per-batch buffers are reused instead of faulted in again.

Each case runs in a child process: the allocator setting is process-wide and cannot be undone.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# four buffers alive at once (16, 8, 12, 4 MB: the sizes of a batch's activations), freed, again
CHILD = """
import resource, sys
import numpy as np
from metst_engine.malloc_tuning import keep_freed_memory
tuned = keep_freed_memory() if sys.argv[1] == "tune" else False

def batch():
    xs = [np.ones(n, np.float32) for n in (4 << 20, 2 << 20, 3 << 20, 1 << 20)]
    return sum(float(x[-1]) for x in xs)

batch()
r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    batch()
print(tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)
"""


def run_child(mode: str, **env_extra: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, check=True)
    tuned, faults = out.stdout.split()
    return tuned, int(faults)


def test_freed_batches_are_reused_without_page_faults():
    pages = 5 * (40 << 20) // 4096          # what the five batches touch
    tuned, faults = run_child("tune")
    assert tuned == "True"
    assert faults < pages // 100
    _, default_faults = run_child("default")  # glibc's own thresholds fault most of them in again
    assert default_faults > pages // 20


def test_a_threshold_set_by_the_user_wins():
    tuned, faults = run_child("tune", MALLOC_TRIM_THRESHOLD_="1")
    assert tuned == "False"
    assert faults > 0
