"""Learning-rate schedules of the training engine (spec E2, E3, E5), as closed-form step factors.

A schedule is a factor f(t) of the global optimizer step t (0-based; step t runs at lr·f(t)). It
multiplies every parameter group's own base learning rate, so groups with their own rates (the S4D
SSM parameters) follow the same shape. Notation: S steps per epoch, E epochs, W warmup steps
(``round(warmup_epochs · S)``), stage k spans steps b_k … b_k + T_k − 1 with T_k = S · epochs_k.

* ``cosine_epoch`` (E2, E3; the authors' ``CosineAnnealingLR(T_max=E)`` stepped once per epoch):
  f(t) = ½(1 + cos(π·e/E)) with e = ⌊t/S⌋, constant within an epoch; a warmup (off by default)
  multiplies it by min(1, (t + 1)/W).
* ``cosine_step_restarts`` (E5): linear warmup f(t) = (t + 1)/W over the first W steps, then a
  per-step cosine that restarts at every stage boundary:
  f(t) = ½(1 + cos(π·(t − b_k)/T_k)), where stage 0's cosine starts after the warmup
  (b_0 = W, T_0 = S·epochs_0 − W).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

SCHEDULES = ("cosine_epoch", "cosine_step_restarts")


def cosine(progress: float) -> float:
    """½(1 + cos(π·progress)): 1 at the start of a cycle, 0 at its end (progress clipped to [0, 1])."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


def linear_warmup(step: int, warmup_steps: int) -> float:
    """(t + 1)/W during the first W steps, then 1."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


@dataclass
class LRFactor:
    """f(t) of one schedule; a plain object so ``LambdaLR.state_dict`` stores its fields.

    Args:
        kind: one of :data:`SCHEDULES`.
        steps_per_epoch: S.
        stage_epochs: epochs of each stage (one entry when training has no stages).
        warmup_steps: W.
    """

    kind: str
    steps_per_epoch: int
    stage_epochs: list[int]
    warmup_steps: int

    def __call__(self, step: int) -> float:
        if self.kind == "cosine_epoch":
            epoch = step // self.steps_per_epoch
            return cosine(epoch / sum(self.stage_epochs)) * linear_warmup(step, self.warmup_steps)
        begin, length = self.stage_span(step)
        if begin == 0 and self.warmup_steps > 0:
            if step < self.warmup_steps:
                return linear_warmup(step, self.warmup_steps)
            begin, length = self.warmup_steps, length - self.warmup_steps
        return cosine((step - begin) / length)

    def stage_span(self, step: int) -> tuple[int, int]:
        """(b_k, T_k) of the stage holding ``step`` (steps past the end belong to the last stage)."""
        begin = 0
        for epochs in self.stage_epochs[:-1]:
            length = epochs * self.steps_per_epoch
            if step < begin + length:
                return begin, length
            begin += length
        return begin, self.stage_epochs[-1] * self.steps_per_epoch


def make_lr_factor(kind: str, steps_per_epoch: int, stage_epochs: Sequence[int], warmup_epochs: float) -> LRFactor:
    """Validated :class:`LRFactor`; the warmup must end inside the first stage."""
    if kind not in SCHEDULES:
        raise ValueError(f"unknown schedule {kind!r}; valid: {', '.join(SCHEDULES)}")
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    if kind == "cosine_step_restarts" and warmup_steps >= stage_epochs[0] * steps_per_epoch:
        raise ValueError(
            f"warmup of {warmup_epochs} epochs ({warmup_steps} steps) does not end inside the first stage "
            f"({stage_epochs[0]} epochs, {stage_epochs[0] * steps_per_epoch} steps)"
        )
    return LRFactor(kind, int(steps_per_epoch), [int(e) for e in stage_epochs], int(warmup_steps))


def make_scheduler(optimizer: torch.optim.Optimizer, factor: LRFactor) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` applying ``factor``; call ``.step()`` after every optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=factor)
