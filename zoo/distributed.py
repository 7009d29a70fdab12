"""Training on several replicas: which strategy, and the loop that runs across machines.

`zoo train --strategy` picks one of `STRATEGIES` (`zoo.cluster`). `one_device` and `mirrored` (every
local GPU, or logical device) train through Keras' `fit`. `multi_worker` spreads a
run over the workers named in `TF_CONFIG` (one process per host, each with its own
`TF_CONFIG`) with `tf.distribute.MultiWorkerMirroredStrategy`, whose `fit` Keras
3.15 cannot run (its "mean" reduction of scalar logs calls
`strategy.reduce(..., axis=0)`); `fit_in_loop` is our own loop around the model's
`train_step` instead.

The loop keeps what makes single-process training reproducible. Each worker builds
the whole global batch, a pure function of (seed, epoch, batch)
(`zoo.training.indexed_batches`), and each replica takes its contiguous slice of it
(`replica_shard`): no worker coordinates its input with another, and the gradient
summed over replicas of `scaled_loss` (each replica's mean / replica count) is the
gradient of the global-batch mean, so a step equals a single-process step on the same
global batch up to float summation order (and the replicas' sampling noise, which
`draw_seed` draws per replica). The chief (task index 0) writes the backups; on a
restart it restores the newest one and broadcasts the state and position to the other
workers (`restore_from_chief`), which need not share its disk.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile

import keras
import tensorflow as tf

from zoo.cluster import is_chief_task


def create_strategy(name: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy of a resolved strategy name.

    Call it before TensorFlow runs any op: MultiWorkerMirroredStrategy configures the
    collective ops, which TensorFlow accepts only before its runtime starts.

    Args:
        name: "one_device", "mirrored" or "multi_worker" (see `zoo.cluster.resolve_strategy`).
    """
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()  # the default: one device, no-op scope


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether `strategy` spans several worker processes (and so needs `fit_in_loop`)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always, unless it is a worker of a
    multi-worker cluster other than the chief (see `zoo.cluster.is_chief_task`)."""
    return not is_multi_worker(strategy) or is_chief_task()


@contextlib.contextmanager
def worker_work_dir(strategy: tf.distribute.Strategy, work_dir: str):
    """Yields where this process keeps checkpoints and logs: `work_dir` for the chief, a
    temporary folder (removed afterwards) for the other workers, whose copies of the
    backups would only duplicate the chief's."""
    if is_chief(strategy):
        yield work_dir
        return
    scratch = tempfile.mkdtemp(prefix="zoo-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def replica_shard(batch, replica, replicas):
    """Replica `replica`'s contiguous slice of a global batch (each tensor of a nest).

    Slices differ in size by one at most: rows [replica * n // replicas, (replica + 1)
    * n // replicas) of the n rows.

    Args:
        batch: a tensor or nest of tensors (images, labels), batch dimension first.
        replica, replicas: this replica's index in the sync group and their number
            (ints or scalar tensors).
    """
    n = tf.shape(tf.nest.flatten(batch)[0], out_type=tf.int64)[0]
    replica, replicas = tf.cast(replica, tf.int64), tf.cast(replicas, tf.int64)
    begin, end = replica * n // replicas, (replica + 1) * n // replicas
    return tf.nest.map_structure(lambda t: t[begin:end], batch)


def check_batches_divide(num_examples: int, batch_size: int, replicas: int) -> None:
    """Refuses a run whose last batch leaves a replica without examples (a NaN mean).

    Raises:
        ValueError: the global batch, or the epoch's last partial batch, has fewer
            examples than there are replicas.
    """
    remainder = num_examples % batch_size
    if batch_size < replicas or 0 < remainder < replicas:
        raise ValueError(f"{replicas} replicas: the batch size {batch_size} and each epoch's last batch "
                         f"({remainder or batch_size} of {num_examples} examples) must have one example per "
                         "replica at least; change --take or the batch size")


def distribute(strategy: tf.distribute.Strategy, batch):
    """A global batch as per-replica values: each replica's `replica_shard`."""
    return strategy.experimental_distribute_values_from_function(
        lambda context: replica_shard(batch, context.replica_id_in_sync_group, context.num_replicas_in_sync))


def broadcast_from_chief(strategy: tf.distribute.Strategy, tensors) -> list:
    """The chief's values of `tensors` (a list), on every worker.

    A sum over the replicas in which only replica 0 (the chief's first) contributes is a
    broadcast that needs no shared disk.
    """

    def chief_values():
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)
        # One reduction a tensor: a list of mixed dtypes (int64 step counters, float32
        # weights) would be packed into one tensor, which needs a single dtype.
        return [context.all_reduce("sum", tf.where(first, t, tf.zeros_like(t))) for t in tensors]

    return strategy.experimental_local_results(strategy.run(tf.function(chief_values)))[0]


def restore_from_chief(strategy: tf.distribute.Strategy, model, backup, make_model) -> tuple[int, int]:
    """Restores the chief's backup (`backup` there) into the model on every worker.

    Call it on every worker at the same point, outside `strategy.scope()`: the
    broadcasts are collective operations that all workers join. The chief reads its
    backup into a model of its own outside the strategy, since loading weights into the
    strategy's model creates (temporary) variables, and creating a variable under this
    strategy is a collective of its own that the other workers would not join.

    Args:
        model: the compiled model, built under `strategy.scope()`.
        backup: this worker's `ResumableBackup`; only the chief's is read.
        make_model: returns a new compiled model like `model` (the chief's reader).
    Returns:
        (epoch, batch) to resume at, (0, 0) without a backup.
    """
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    chief = is_chief(strategy)
    found = backup.position() if chief and backup.has_backup() else (-1, 0)
    epoch, batch = (int(v) for v in broadcast_from_chief(strategy, [tf.constant(found, tf.int64)])[0].numpy())
    if epoch < 0:
        return 0, 0
    source = model
    if chief:
        source = make_model()
        backup.restore(source)
    targets = model.variables + model.optimizer.variables
    values = broadcast_from_chief(strategy, source.variables + source.optimizer.variables)
    if len(values) != len(targets):
        raise RuntimeError(f"the backup holds {len(values)} variables, the model {len(targets)}")
    for variable, value in zip(targets, values):
        variable.assign(value)
    return epoch, batch


def _mean_logs(strategy, per_replica: dict, prefix: str = "") -> dict:
    """Python floats of the replicas' logged values, averaged over the replicas."""
    return {prefix + k: float(strategy.reduce("mean", v, axis=None)) for k, v in per_replica.items()}


def fit_in_loop(model, strategy, batches, first_epoch: int, epochs: int, skip_batches: int, callbacks, backup,
                validation_data=None, verbose: int = 2) -> dict:
    """`model.fit` for MultiWorkerMirroredStrategy: the model's `train_step` in `strategy.run`.

    Callbacks see what `fit` would show them: epoch and batch hooks, with each step's
    running means averaged over the replicas as logs, and validation metrics
    ("val_" + name) at each epoch end.

    Args:
        model: a compiled model built under `strategy.scope()`, its state restored.
        strategy: the multi-worker strategy.
        batches: batches(first, end, skip) -> the global (images, labels) batches of
            epochs [first, end), the first `skip` of them left out.
        first_epoch, epochs: train epochs [first_epoch, epochs).
        skip_batches: batches of `first_epoch` done before an interruption.
        callbacks: Keras callbacks (`backup` among them).
        backup: the `ResumableBackup` among `callbacks`; told the resumed epoch's offset.
        validation_data: global (images, labels) batches evaluated after each epoch.
        verbose: 0 silent, otherwise one line per epoch from the chief.
    Returns:
        {name: [value per epoch]}, as `fit`'s history.
    """
    train_step = tf.function(lambda batch: strategy.run(model.train_step, args=(batch,)), reduce_retracing=True)
    test_step = tf.function(lambda batch: strategy.run(model.test_step, args=(batch,)), reduce_retracing=True)
    callback_list = keras.callbacks.CallbackList(list(callbacks), model=model)
    history = {}
    callback_list.on_train_begin()
    for epoch in range(first_epoch, epochs):
        skip = skip_batches if epoch == first_epoch else 0
        backup.batch_offset = skip  # the callbacks count this epoch's batches from 0, as in a resumed fit
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        logs = {}
        for index, batch in enumerate(batches(epoch, epoch + 1, skip)):
            callback_list.on_train_batch_begin(index)
            logs = _mean_logs(strategy, train_step(distribute(strategy, batch)))
            callback_list.on_train_batch_end(index, logs)
            if model.stop_training:
                break
        if validation_data is not None:
            model.reset_metrics()
            for batch in validation_data:
                val = test_step(distribute(strategy, batch))
            logs.update(_mean_logs(strategy, val, prefix="val_"))
        callback_list.on_epoch_end(epoch, logs)
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        if verbose and is_chief(strategy):
            print(f"epoch {epoch + 1}/{epochs}: " + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()), flush=True)
        if model.stop_training:
            break
    backup.batch_offset = 0
    callback_list.on_train_end()
    return history
