"""The one Lightning loop every neural rung trains in.

The :class:`LitClassifier` holds the maths (loss, metrics, optimiser, decay);
the :class:`~lightning.pytorch.Trainer` built by :func:`fit` holds the
engineering: validation after each epoch, the best epoch by validation
macro-F1 checkpointed, early stopping, a progress bar, and a resumable
``last.ckpt``. The network (any ``nn.Module`` whose ``forward(batch)`` returns
logits) and the data loaders come from the rung.

Determinism: the batch order of epoch ``e`` depends only on ``(seed, e)`` (the
samplers implement ``set_epoch``) and torch's generator is re-seeded with
``seed + e`` at the start of each epoch, so a resumed run follows the same
path as one that was never interrupted.

Checkpoints hold only tensors and plain Python values and are read back with
``torch.load(weights_only=True)``: nothing else is unpickled.
"""

from __future__ import annotations

import logging
import math
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar

from textladder.files import atomic_file

log = logging.getLogger("textladder")

MONITOR = "val_macro_f1"
BEST, LAST = "best", "last"


@dataclass
class LoopConfig:
    """Engineering settings of one training run (the rung's ``Params`` supply them)."""

    lr: float = 1e-3
    lr_decay: float = 1.0
    weight_decay: float = 0.0
    epochs: int = 10
    patience: int = 3
    grad_clip: float = 1.0
    seed: int = 42
    progress: bool = False
    optimizer: str = "adam"  # or "adamw"
    warmup: float | None = None  # fraction of optimiser steps: linear warm-up, then linear decay to 0 (per step)
    accumulate: int = 1  # batches per optimiser step
    accelerator: str = "cpu"  # Lightning's: cpu, gpu, auto, ...
    devices: int | str = 1
    strategy: str = "auto"  # Lightning's: auto, ddp, ...
    precision: str | None = None  # None: 32-true on CPU, bf16-mixed (or 16-mixed) on GPU

    def resolved_precision(self) -> str:
        if self.precision:
            return self.precision
        if self.accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"


def macro_f1(y_true: torch.Tensor, y_pred: torch.Tensor, n_classes: int) -> float:
    """Macro-averaged F1 over the classes present in ``y_true`` or ``y_pred`` (scikit-learn's definition)."""
    cm = torch.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    tp = cm.diag().double()
    support, predicted = cm.sum(1).double(), cm.sum(0).double()
    present = (support + predicted) > 0
    f1 = torch.where(support + predicted > 0, 2 * tp / (support + predicted).clamp(min=1), torch.zeros_like(tp))
    return float(f1[present].mean()) if present.any() else 0.0


class LitClassifier(pl.LightningModule):
    """Cross-entropy training of ``net`` with Adam, the learning rate decayed each epoch
    (``lr * lr_decay ** epoch``), validation accuracy and macro-F1."""

    def __init__(self, net: nn.Module, n_classes: int, config: LoopConfig, class_weights: np.ndarray | None = None):
        super().__init__()
        self.net = net
        self.n_classes = n_classes
        self.config = config
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", weight, persistent=False)
        self._val_true: list[torch.Tensor] = []
        self._val_pred: list[torch.Tensor] = []
        self._train_loss = [0.0, 0]

    def forward(self, batch):
        return self.net(batch)

    def on_train_epoch_start(self) -> None:
        # Seed and learning rate are functions of the epoch alone, so a resumed run repeats exactly.
        torch.manual_seed(self.config.seed + self.current_epoch)
        if self.config.warmup is None:  # else the per-step schedule owns the learning rate
            for group in self.optimizers().param_groups:
                group["lr"] = self.config.lr * self.config.lr_decay ** self.current_epoch
        self._train_loss = [0.0, 0]

    def training_step(self, batch, batch_idx):
        logits = self.net(batch)
        loss = nn.functional.cross_entropy(logits, batch["y"], weight=self.class_weights)
        n = len(batch["y"])
        self._train_loss[0] += float(loss.detach()) * n
        self._train_loss[1] += n
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_true, self._val_pred = [], []
        self._val_loss = [0.0, 0]

    def validation_step(self, batch, batch_idx):
        logits = self.net(batch)
        loss = nn.functional.cross_entropy(logits, batch["y"], reduction="sum")
        self._val_loss[0] += float(loss)
        self._val_loss[1] += len(batch["y"])
        self._val_true.append(batch["y"])
        self._val_pred.append(logits.argmax(1))

    def on_validation_epoch_end(self) -> None:
        if not self._val_true:
            return
        y, p = torch.cat(self._val_true), torch.cat(self._val_pred)
        self.log("val_accuracy", float((y == p).double().mean()))
        self.log(MONITOR, macro_f1(y, p, self.n_classes))
        self.log("val_loss", self._val_loss[0] / max(1, self._val_loss[1]))
        if self._train_loss[1]:
            self.log("train_loss", self._train_loss[0] / self._train_loss[1])

    def configure_optimizers(self):
        cfg = self.config
        # A net may split its parameters into groups of their own learning rates (the transformer's
        # layer-wise decay); the schedule below then scales every group alike.
        groups = getattr(self.net, "param_groups", None)
        params = groups(cfg.lr) if groups else [p for p in self.parameters() if p.requires_grad]
        if cfg.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.warmup is None:
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = max(1, int(cfg.warmup * total))

        def factor(step: int) -> float:  # linear warm-up to lr, then linear decay to 0
            return (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class History(Callback):
    """One row per epoch (loss, validation accuracy and macro-F1, learning rate, seconds), logged as it
    happens and kept in the checkpoint so a resumed run has its whole history."""

    def __init__(self, on_epoch=None):
        self.rows: list[dict] = []
        self._start = 0.0
        self.on_epoch = on_epoch  # called with each new row (a search's pruner listens here)

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.time()
        self._next_report = 0.1

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        # Long epochs (a transformer on a CPU) also log their progress, every tenth, once past a minute.
        total = trainer.num_training_batches
        done = (batch_idx + 1) / total if total and total != float("inf") else 0.0
        if done >= self._next_report:
            elapsed = time.time() - self._start
            if elapsed > 60:
                log.info("epoch %d: %d%% (%d/%d batches), %.0f s so far, about %.0f s to go",
                         trainer.current_epoch + 1, 100 * done, batch_idx + 1, total, elapsed,
                         elapsed * (1 - done) / done)
            while self._next_report <= done:
                self._next_report += 0.1

    def on_train_epoch_end(self, trainer, pl_module):
        m = trainer.callback_metrics
        if MONITOR not in m or trainer.sanity_checking:
            return
        row = {
            "epoch": trainer.current_epoch + 1,
            "train_loss": round(float(m.get("train_loss", math.nan)), 6),
            "val_loss": round(float(m["val_loss"]), 6),
            "val_accuracy": round(float(m["val_accuracy"]), 6),
            "val_macro_f1": round(float(m[MONITOR]), 6),
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "seconds": round(time.time() - self._start, 3),
        }
        self.rows.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)
        best = max(r["val_macro_f1"] for r in self.rows) == row["val_macro_f1"]
        log.info("epoch %d/%d: train loss %.4f, val loss %.4f, val accuracy %.4f, macro-F1 %.4f%s, %.1f s",
                 row["epoch"], trainer.max_epochs, row["train_loss"], row["val_loss"], row["val_accuracy"],
                 row["val_macro_f1"], " (best)" if best else "", row["seconds"])

    def state_dict(self):
        return {"rows": self.rows}

    def load_state_dict(self, state_dict):
        self.rows = list(state_dict["rows"])


class Deadline(Callback):
    """Stop training at the end of an epoch when the next one would end past ``deadline`` (a
    ``time.time()`` value), judged by the longest epoch so far; the best epoch so far is kept, as early
    stopping keeps it. A time budget (a search's, the auto ladder's) holds this way, epoch by epoch."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self._start = 0.0
        self.longest = 0.0

    def on_train_epoch_start(self, trainer, pl_module):
        self._start = time.time()

    def on_train_epoch_end(self, trainer, pl_module):
        now = time.time()
        self.longest = max(self.longest, now - self._start)
        if trainer.current_epoch + 1 < trainer.max_epochs and now + self.longest > self.deadline:
            log.info("stopping after epoch %d of %d: another (about %.0f s) would end past the time budget "
                     "(%.0f s left); the best epoch is kept", trainer.current_epoch + 1, trainer.max_epochs,
                     self.longest, max(0.0, self.deadline - now))
            trainer.should_stop = True


def save_atomically(trainer: pl.Trainer, path: Path, weights_only: bool = False) -> None:
    """``trainer.save_checkpoint`` into a temporary file renamed onto ``path`` when complete: a full disk
    or a kill mid-write leaves the previous checkpoint, never a truncated one."""
    if not trainer.is_global_zero:  # a collective call in which only the first process writes
        trainer.save_checkpoint(path, weights_only)
        return
    with atomic_file(path) as tmp:
        trainer.save_checkpoint(tmp, weights_only)


class BestCheckpoint(ModelCheckpoint):
    """Lightning's best-epoch checkpoint, written atomically."""

    def _save_checkpoint(self, trainer, filepath) -> None:
        save_atomically(trainer, Path(filepath), self.save_weights_only)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath


class LastCheckpoint(Callback):
    """``last.ckpt`` at the end of every epoch, after the history row and the best-epoch and
    early-stopping bookkeeping of that epoch, written atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def on_train_epoch_end(self, trainer, pl_module):
        if MONITOR in trainer.callback_metrics:  # not when Lightning replays the end of a restored epoch
            save_atomically(trainer, self.path)


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*number of training batches.*")
    warnings.filterwarnings("ignore", message=".*predict_dataloader.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")


def last_checkpoint(work_dir: Path) -> Path | None:
    """``work_dir/last.ckpt`` if it is there and readable; an unreadable one (cut short by a crash or a
    full disk in an older version) is set aside as ``last.ckpt.unreadable``, with a warning, and the
    run starts from the beginning."""
    path = Path(work_dir) / f"{LAST}.ckpt"
    if not path.is_file():
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=True)["epoch"]
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is treated as absent
        log.warning("%s is unreadable (%s); starting from the first epoch", path, str(exc).splitlines()[0][:120])
        path.replace(path.with_name(path.name + ".unreadable"))
        (Path(work_dir) / f"{BEST}.ckpt").unlink(missing_ok=True)
        return None
    return path


def fit(module: LitClassifier, train_loader, val_loader, work_dir: Path, resume: bool = False,
        on_epoch=None, deadline: float | None = None) -> list[dict]:
    """Train ``module`` in ``work_dir`` (checkpoints live there), load the best epoch's weights into it,
    and return the per-epoch history. ``resume`` continues from ``work_dir/last.ckpt``. ``deadline`` (a
    ``time.time()`` value): no epoch starts that would end past it (:class:`Deadline`).

    Raises ``KeyboardInterrupt`` if interrupted; the last finished epoch stays in ``work_dir``.
    """
    _quiet_lightning()
    cfg = module.config
    work_dir = Path(work_dir)
    history = History(on_epoch)
    best = BestCheckpoint(dirpath=work_dir, filename=BEST, monitor=MONITOR, mode="max", save_top_k=1,
                           enable_version_counter=False)
    callbacks: list[Callback] = [history, best, LastCheckpoint(work_dir / f"{LAST}.ckpt"),
                                 EarlyStopping(monitor=MONITOR, mode="max", patience=cfg.patience)]
    if deadline is not None:
        callbacks.append(Deadline(deadline))
    if cfg.progress:
        callbacks.append(TQDMProgressBar(leave=False))
    trainer = pl.Trainer(
        accelerator=cfg.accelerator, devices=cfg.devices, strategy=cfg.strategy, precision=cfg.resolved_precision(),
        accumulate_grad_batches=cfg.accumulate, max_epochs=cfg.epochs, callbacks=callbacks, logger=False,
        enable_progress_bar=cfg.progress, enable_model_summary=False, gradient_clip_val=cfg.grad_clip or None,
        num_sanity_val_steps=0, deterministic=cfg.accelerator == "cpu", default_root_dir=work_dir,
        use_distributed_sampler=False,
    )
    ckpt = last_checkpoint(work_dir) if resume else None
    first_epoch = 0
    if ckpt is not None:
        first_epoch = int(torch.load(ckpt, map_location="cpu", weights_only=True)["epoch"]) + 1
        log.info("resuming from %s at epoch %d", ckpt, first_epoch + 1)
    sampler = getattr(train_loader, "batch_sampler", None)
    if sampler is not None and hasattr(sampler, "epoch_of"):
        # Lightning's own sampler-epoch counter runs ahead after a restore; use the epoch being trained.
        sampler.epoch_of = lambda: max(first_epoch, trainer.current_epoch)
    if sampler is not None and hasattr(sampler, "shard_of"):
        # Several processes (DDP): each trains on its own share of the batches; every one validates on all.
        sampler.shard_of = lambda: (trainer.global_rank, trainer.world_size)
    handler = signal.getsignal(signal.SIGINT)
    try:
        trainer.fit(module, train_loader, val_loader, ckpt_path=ckpt, weights_only=True)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into sys.exit(1); give the caller its interrupt back
            raise KeyboardInterrupt from None
        raise
    finally:
        signal.signal(signal.SIGINT, handler)
    if trainer.interrupted:
        raise KeyboardInterrupt
    module.global_rank_, module.world_size_ = trainer.global_rank, trainer.world_size
    best = work_dir / f"{BEST}.ckpt"
    if best.is_file():
        state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
        module.load_state_dict(state)
    return history.rows
