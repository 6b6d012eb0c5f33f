"""Where independent tasks run: in this process, in a local process pool, or on a Ray cluster.

Dataset extraction (one task per video) and leave-one-subject-out training (one task per
fold) hand their tasks to an :class:`Executor` and get each task's :class:`Outcome` back
as it completes. Tasks are pure functions of their arguments and return their results;
the caller (the *driver*) writes every file, so a run folder has the same layout whatever
ran the tasks, and only the driver needs to reach it.

- :class:`LocalExecutor` with ``workers=1`` runs the tasks one after the other in this
  process (progress and cancel work live, as they always did); with more workers it uses a
  spawned process pool.
- :class:`RayExecutor` submits each task as a Ray task with its declared CPUs/GPUs and a
  bounded number of retries (a raised error or a lost worker); a task that still fails comes
  back as a failed Outcome naming it, and the other tasks go on. Ray is an optional extra
  (``pip install "metst[cluster]"``).

Every task pins its threads (:func:`pin_threads`) to its declared CPUs, otherwise workers
sharing a node fight over the cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import Cancelled, MetstError
from .malloc_tuning import keep_freed_memory

CancelFn = Callable[[], bool]

#: What ``--executor ray`` says when Ray is not installed.
RAY_INSTALL_HINT = 'the ray executor needs Ray: pip install "metst[cluster]" (or pip install ray)'
#: How often a waiting driver looks at its cancel function, seconds.
_POLL_S = 0.5


class ExecutorUnavailable(MetstError):
    """The chosen executor cannot run here (e.g. Ray is not installed); says how to fix it."""


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args, **kwargs)``, named for reports, with the resources it needs."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    num_cpus: int = 1           #: cores the task uses; its threads are pinned to this many
    num_gpus: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """A finished task: its value, or the error that made it fail (after any retries)."""

    name: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Executor(Protocol):
    """Runs tasks and yields their outcomes in completion order."""

    #: True when tasks run in the caller's process, so they may call its progress/cancel live.
    in_process: bool

    def share(self, obj: Any) -> Any:
        """A handle to pass ``obj`` to many tasks (Ray: stored once in the object store)."""

    def run(self, tasks: Sequence[Task], cancel: CancelFn | None = None) -> Iterator[Outcome]:
        """Run every task; yield each Outcome as it completes. ``cancel()`` True stops with Cancelled."""

    def close(self) -> None:
        """Release what the executor started (pool, Ray connection it opened)."""


def pin_threads(n: int) -> None:
    """Limit OpenCV, torch and OpenMP in this process to ``n`` threads (a task's declared CPUs)."""
    import cv2
    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)       # libraries that start their pools later
    cv2.setNumThreads(n)
    torch.set_num_threads(n)


def describe_error(exc: BaseException) -> str:
    """One line for a task's failure: a metst error's own message (it names the file), else
    ``Type: message``; Ray's wrapper is unwrapped to its cause."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    if isinstance(exc, MetstError):
        return first
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class TaskFailed(MetstError):
    """A task's error as one line, raised in the worker: any error pickles this way (some
    library and metst errors cannot be rebuilt from their pickled arguments)."""


def _pinned_call(n_threads: int, fn: Callable[..., Any], kwargs: dict[str, Any], *args: Any) -> Any:
    """Run in a worker: pin its threads to the task's CPUs, keep freed tensor memory for reuse
    (:mod:`metst_engine.malloc_tuning`), then the task.

    ``args`` come last and loose so that Ray resolves object references among them.
    """
    pin_threads(n_threads)
    keep_freed_memory()
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        raise TaskFailed(describe_error(exc)) from None


# ------------------------------------------------------------------------------- local
class LocalExecutor:
    """This machine: ``workers=1`` in this process, one task after the other; more: a process pool.

    In-process tasks may raise :class:`Cancelled` (it stops the run); any other error
    becomes a failed Outcome and the next task runs.
    """

    def __init__(self, workers: int | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.in_process = self.workers == 1
        self._pool: ProcessPoolExecutor | None = None

    def share(self, obj: Any) -> Any:
        return obj

    def run(self, tasks: Sequence[Task], cancel: CancelFn | None = None) -> Iterator[Outcome]:
        if self.in_process:
            yield from self._run_inline(tasks, cancel)
            return
        yield from self._run_pool(tasks, cancel)

    def _run_inline(self, tasks: Sequence[Task], cancel: CancelFn | None) -> Iterator[Outcome]:
        for task in tasks:
            if cancel and cancel():
                raise Cancelled("cancelled")
            try:
                value = task.fn(*task.args, **task.kwargs)
            except Cancelled:
                raise
            except Exception as exc:  # reported by name; the other tasks go on
                yield Outcome(task.name, error=describe_error(exc))
            else:
                yield Outcome(task.name, value)

    def _run_pool(self, tasks: Sequence[Task], cancel: CancelFn | None) -> Iterator[Outcome]:
        if self._pool is None:
            # spawn, not fork: the caller may hold threads (a GUI, torch) that fork would copy half-way
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))
        names: dict[Future[Any], str] = {
            self._pool.submit(_pinned_call, max(1, t.num_cpus), t.fn, t.kwargs, *t.args): t.name for t in tasks}
        pending = set(names)
        try:
            while pending:
                if cancel and cancel():
                    raise Cancelled("cancelled")
                done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for fut in done:
                    exc = fut.exception()
                    yield Outcome(names[fut], error=describe_error(exc)) if exc else Outcome(names[fut], fut.result())
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


# ------------------------------------------------------------------------------- ray
def import_ray() -> Any:
    """The ``ray`` module, or :class:`ExecutorUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable(RAY_INSTALL_HINT) from None
    return ray


class RayExecutor:
    """A Ray cluster: each task a Ray task with ``num_cpus``/``num_gpus`` and bounded retries.

    Connects to ``address`` (``"auto"``, ``"ray://head:10001"``, ...) or, with None, starts a
    local Ray; when Ray is already initialised (a notebook, a test) it uses that and leaves
    it running. Every node needs metst installed and the dataset at the same path.
    """

    in_process = False

    def __init__(self, address: str | None = None, *, max_retries: int = 2, num_cpus: int | None = None):
        self._ray = import_ray()
        self.max_retries = max(0, max_retries)
        self._owns_ray = False
        if not self._ray.is_initialized():
            # log_to_driver off: Ray would print the workers' output (and retry notices) on
            # the driver's stdout, where metst's results go; failures are reported by metst
            init_args: dict[str, Any] = {"address": address, "include_dashboard": False,
                                         "logging_level": "WARNING", "log_to_driver": False}
            if address is None and num_cpus is not None:
                init_args["num_cpus"] = num_cpus
            self._ray.init(**init_args)
            self._owns_ray = True
        self._remote = self._ray.remote(_pinned_call)

    def cluster_gpus(self) -> float:
        """GPUs the cluster has (to decide whether device "auto" asks for one per fold)."""
        return float(self._ray.cluster_resources().get("GPU", 0.0))

    def share(self, obj: Any) -> Any:
        return self._ray.put(obj)

    def run(self, tasks: Sequence[Task], cancel: CancelFn | None = None) -> Iterator[Outcome]:
        ray = self._ray
        names = {}
        for t in tasks:
            ref = self._remote.options(num_cpus=t.num_cpus, num_gpus=t.num_gpus, max_retries=self.max_retries,
                                       retry_exceptions=True, name=f"metst:{t.name}").remote(
                max(1, t.num_cpus), t.fn, t.kwargs, *t.args)
            names[ref] = t.name
        pending = list(names)
        try:
            while pending:
                if cancel and cancel():
                    raise Cancelled("cancelled")
                done, pending = ray.wait(pending, num_returns=1, timeout=_POLL_S)
                for ref in done:
                    try:
                        value = ray.get(ref)
                    except Exception as exc:  # raised in the task or a lost worker, after the retries
                        yield Outcome(names[ref], error=describe_error(exc))
                    else:
                        yield Outcome(names[ref], value)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()
            self._owns_ray = False


def make_executor(kind: str, *, address: str | None = None, workers: int | None = None,
                  max_retries: int = 2) -> Executor:
    """The executor a front end asked for: ``local`` or ``ray``."""
    if kind == "local":
        if address:
            raise ValueError("--ray-address needs --executor ray")
        return LocalExecutor(workers)
    if kind == "ray":
        return RayExecutor(address, max_retries=max_retries)
    raise ValueError(f"unknown executor {kind!r}; choose local or ray")


__all__ = ["RAY_INSTALL_HINT", "Executor", "ExecutorUnavailable", "LocalExecutor", "Outcome", "RayExecutor", "Task",
           "TaskFailed",
           "describe_error", "import_ray", "make_executor", "pin_threads"]
