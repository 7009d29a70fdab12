"""The cluster a run is part of, from `TF_CONFIG`, and the strategy names; no TensorFlow.

`zoo train --strategy` offers `STRATEGIES` and its `--help` answers without starting
TensorFlow, so the names and their resolution live here; `zoo.distributed` builds the
strategies themselves.
"""

from __future__ import annotations

import json
import os

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")


def cluster_workers(environ=os.environ) -> int:
    """The number of worker tasks (chief included) in `TF_CONFIG`; 0 when it is unset.

    Args:
        environ: the environment to read (default: this process's).
    Raises:
        ValueError: `TF_CONFIG` is not JSON.
    """
    text = environ.get("TF_CONFIG")
    if not text:
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not JSON ({e}): {text[:200]!r}") from None
    return len(cluster.get("chief", ())) + len(cluster.get("worker", ()))


def resolve_strategy(name: str, environ=os.environ) -> str:
    """The strategy `name` stands for: "auto" is multi_worker when `TF_CONFIG` names more
    than one worker, one_device otherwise; any other name is itself.

    Args:
        name: one of `STRATEGIES`.
        environ: the environment to read `TF_CONFIG` from.
    Raises:
        ValueError: an unknown name, or multi_worker without a cluster in `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    workers = cluster_workers(environ)
    if name == "auto":
        return "multi_worker" if workers > 1 else "one_device"
    if name == "multi_worker" and workers < 1:
        raise ValueError("strategy multi_worker needs TF_CONFIG naming the cluster and this task, e.g. "
                         '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                         '"index": 0}}')
    return name


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask; all of them where the OS has none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def is_chief_task(environ=os.environ) -> bool:
    """Whether `TF_CONFIG` makes this process the one that writes a run's files: a
    "chief" task, or worker 0 of a cluster without one; True without `TF_CONFIG`.

    Args:
        environ: the environment to read.
    """
    text = environ.get("TF_CONFIG")
    if not text:
        return True
    config = json.loads(text)
    task = config.get("task", {})
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in config.get("cluster", {})
