"""A stand-in for ``metst train`` in GUI tests (no training): ``python fake_metst_train.py train --loso -o RUN ...``.

Writes a run folder through the engine's ``RunFolder`` as a real run does: settings, progress events,
fold and pooled metrics. ``FAKE_TRAIN=finish`` (default) ends the run at once; ``FAKE_TRAIN=wait``
stays in the first fold until SIGTERM, then says it was cancelled and exits with code 4, as metst train does.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from metst_engine.run_report import METRIC_KEYS
from metst_engine.runs import EXIT_CANCELLED, RunFolder, TrainConfig
from metst_engine.runs.folder import write_json

SUBJECTS = ["s01", "s02"]
#: The pooled metrics a finished fake run reports.
POOLED = {k: 0.5 for k in METRIC_KEYS} | {"tp": 3, "fp": 3, "fn": 3}


def main(argv: list[str]) -> int:
    args = list(argv[1:])                               # after "train"
    run = RunFolder(args[args.index("-o") + 1])
    for flag, takes_value in (("--loso", False), ("-o", True), ("--resume", False), ("--executor", True),
                              ("--ray-address", True)):
        if flag in args:
            i = args.index(flag)
            del args[i:i + 1 + takes_value]
    cfg = TrainConfig.from_argv(args).resolved()
    run.write_settings({"config": cfg.to_dict(), "subjects": SUBJECTS, "threads": cfg.threads})
    with run.open_progress() as events:
        def say(**event) -> None:
            events.write(json.dumps(event) + "\n")
            events.flush()

        say(event="run_start", subjects=SUBJECTS)
        say(event="fold_start", fold="s01")
        say(event="epoch", fold="s01", epoch=1, epochs=cfg.epochs, losses={"loss": 1.0}, seconds=60.0)
        if os.environ.get("FAKE_TRAIN") == "wait":
            def stop(*_: object) -> None:
                print(f"error: {run.path}: training cancelled; finished folds are kept, continue with --resume",
                      flush=True)
                raise SystemExit(EXIT_CANCELLED)

            signal.signal(signal.SIGTERM, stop)
            while True:
                time.sleep(0.05)
        for s in SUBJECTS:
            run.fold_dir(s).mkdir(parents=True, exist_ok=True)
            write_json(run.fold_metrics_file(s), dict(POOLED))
            say(event="fold_end", fold=s, seconds=1.0)
        run.write_metrics(POOLED | {"per_subject": {s: dict(POOLED) for s in SUBJECTS}})
        say(event="run_end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
