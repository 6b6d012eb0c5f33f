"""Alternating child runs of a bench script, for settings a process reads only when it starts.

The allocator thresholds and OpenMP's spin count are fixed at start-up, so their effect is
measured by running the bench once per setting in a child process, the settings alternating
round by round (the machine's load drifts), and comparing the medians.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence


def alternate_runs(script: str, variants: Mapping[str, tuple[Sequence[str], Mapping[str, str]]],
                   rounds: int, figure: str) -> dict[str, float]:
    """Run ``python script *args`` with ``env`` for each ``label: (args, env)``, ``rounds`` times in
    turn; each run's figure is the number the regular expression ``figure`` captures from its output,
    printed as it comes. Returns the median per label."""
    runs: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(rounds):
        for label, (args, env) in variants.items():
            out = subprocess.run([sys.executable, script, *args], env=dict(env), capture_output=True, text=True,
                                 check=True).stdout
            value = float(re.search(figure, out).group(1))  # type: ignore[union-attr]
            runs[label].append(value)
            print(f"  {label}: {value:.3f}", flush=True)
    return {label: statistics.median(values) for label, values in runs.items()}
