"""Training callbacks: a NaN guard that names what broke, and step-level backups.

`NaNGuard` replaces `keras.callbacks.TerminateOnNaN`, which only says "Batch N:
Invalid loss"; ours names the epoch, the step and every reported term (loss,
reconstruction, kl, ...) that became non-finite, and raises so that a script or
`zoo train` fails instead of writing a preset with NaN weights.

`ResumableBackup` replaces `keras.callbacks.BackupAndRestore`. Keras 3's callback can
save every N steps, but on restart it only restores the epoch number: the
interrupted epoch restarts from its first batch with weights that have already
seen some of its batches. This one records the position (epoch, step) with the
weights, and `zoo.training.train` resumes the interrupted epoch at that step with
the data it would have seen (its pipeline is indexed by epoch and batch), so a run
killed at any point and restarted ends with the weights of an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import os

import keras

from zoo import io


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or Inf in the loss or one of its terms."""


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first batch whose logged loss terms are not finite.

    Keras logs per batch the running means of the model's metrics, so the first
    non-finite mean is the batch where a term broke.

    Args:
        terms: names of the logged values to watch (default: every logged value).
    """

    def __init__(self, terms=None):
        super().__init__()
        self.terms = None if terms is None else tuple(terms)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not logs:
            return
        names = self.terms or tuple(logs)
        broken = {}
        for name in names:
            if name in logs:
                value = float(logs[name])
                if not math.isfinite(value):
                    broken[name] = value
        if not broken:
            return
        self.model.stop_training = True
        step = int(self.model.optimizer.iterations.numpy()) if self.model.optimizer is not None else None
        # The terms first (they explain the loss), the total last.
        ordered = sorted(broken, key=lambda n: (n == "loss", n))
        detail = ", ".join(f"{n}={broken[n]}" for n in ordered)
        raise NonFiniteLossError(
            f"non-finite {', '.join(ordered)} at epoch {self._epoch + 1}, batch {batch + 1}"
            + (f" (optimizer step {step})" if step is not None else "")
            + f": {detail}. Training stopped; the last checkpoint is from before this step."
        )


class ResumableBackup(keras.callbacks.Callback):
    """Backs up the training state every `save_freq` steps and at each epoch end.

    The state is the model's weights file (weights, optimizer slots and step count,
    the model's seed-generator state) and a JSON position {"epoch", "batch",
    "weights"}: the next epoch to run and how many of its batches are done. Writes
    are crash-safe: the weights go to a fresh file, then the JSON is atomically
    replaced (the commit point), then the previous weights file is deleted; a kill
    at any moment leaves a JSON that names a complete weights file. A directory
    written by `keras.callbacks.BackupAndRestore` (same file names) is read too.

    Call `restore()` before `fit`; `zoo.training.train` does, and starts the data
    where the position says. During a fit that starts mid-epoch, set
    `batch_offset` to the number of batches already done in that epoch.

    Args:
        backup_dir: directory of the backup (created on first save).
        save_freq: "epoch", or save every this many optimizer steps too.
    """

    METADATA = "training_metadata.json"
    LEGACY_WEIGHTS = "latest.weights.h5"

    def __init__(self, backup_dir, save_freq="epoch"):
        super().__init__()
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"save_freq must be 'epoch' or a positive number of steps, got {save_freq!r}")
        self.backup_dir = backup_dir
        self.save_freq = save_freq
        self.batch_offset = 0
        self._epoch = 0
        self._since_save = 0
        self._done = 0  # batches of the current epoch finished in this fit

    # ------------------------------------------------------------------ reading

    def position(self):
        """(epoch, batch) of the backup, or (0, 0) when there is none."""
        meta = self._read_metadata()
        if meta is None:
            return 0, 0
        return int(meta["epoch"]), int(meta.get("batch", 0))

    def has_backup(self) -> bool:
        """Whether a backup was written (a position to resume at)."""
        return self._read_metadata() is not None

    def _read_metadata(self):
        path = os.path.join(self.backup_dir, self.METADATA)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return json.load(f)

    def restore(self, model):
        """Loads the backup into a compiled model; returns (epoch, batch) to resume at."""
        meta = self._read_metadata()
        if meta is None:
            return 0, 0
        weights = os.path.join(self.backup_dir, meta.get("weights", self.LEGACY_WEIGHTS))
        if not os.path.exists(weights):
            raise FileNotFoundError(f"{self.backup_dir}: the backup names {weights}, which is missing")
        if model.optimizer is not None and not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)  # slots must exist to be loaded
        model.load_weights(weights)
        return int(meta["epoch"]), int(meta.get("batch", 0))

    # ------------------------------------------------------------------ writing

    def _save(self, epoch, batch):
        os.makedirs(self.backup_dir, exist_ok=True)
        previous = self._read_metadata()
        step = int(self.model.optimizer.iterations.numpy())
        name = f"step-{step}.weights.h5"
        self.model.save_weights(os.path.join(self.backup_dir, name), overwrite=True)
        io.write_json(os.path.join(self.backup_dir, self.METADATA),
                      {"epoch": epoch, "batch": batch, "weights": name, "optimizer_step": step})
        if previous is not None:
            old = previous.get("weights", self.LEGACY_WEIGHTS)
            if old != name and os.path.exists(os.path.join(self.backup_dir, old)):
                os.remove(os.path.join(self.backup_dir, old))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._done = 0

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # `batch` is the last step index of the call (steps_per_execution may be > 1).
        self._since_save += batch + 1 - self._done
        self._done = batch + 1
        if self._since_save >= self.save_freq:
            self._since_save = 0
            self._save(self._epoch, self.batch_offset + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._since_save = 0
        self._save(epoch + 1, 0)
