"""Metrics of a model on a whole dataset at step factor τ and stride s (:func:`evaluate`), in
batches bounded by ``train.eval_max_elements`` (:func:`eval_batch_size`). Used by the training engine
(:mod:`contlaws.train`, validation every epoch) and by every experiment that tests a trained model.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def model_width(model: torch.nn.Module) -> int:
    """d_model from ``build_kwargs`` (registry models) or a ``d_model`` attribute; 1 if neither."""
    cfg = (getattr(model, "build_kwargs", None) or {}).get("model_cfg") or {}
    return int(cfg.get("d_model") or getattr(model, "d_model", 1))


def eval_batch_size(length: int, width: int, max_elements: int) -> int:
    """Largest B with B·L·d_model ≤ max_elements (at least 1)."""
    return max(1, int(max_elements) // (int(length) * int(width)))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    dataset,
    *,
    tau: float = 1.0,
    stride: int = 1,
    device: str | torch.device | None = None,
    eval_max_elements: int,
    return_outputs: bool = False,
) -> dict:
    """Metrics of ``model`` at step factor τ and stride s on the whole ``dataset`` (eval mode).

    Args:
        dataset: a SequenceDataset (``task``, ``length``, ``get_batch``).
        device: where to run; default the model's device.
        eval_max_elements: batches of B sequences with B·L·d_model ≤ this (``train.eval_max_elements``).
        return_outputs: also return ``outputs``, the (N, d_output) numpy array in dataset order.
    Returns:
        regression: ``rmse`` and ``mae`` pooled over all N·d_output outputs, ``n``;
        classification: ``accuracy``, mean cross-entropy ``loss``, ``n``.
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(dataset)
    batch = eval_batch_size(dataset.length, model_width(model), eval_max_elements)
    sums = {"a": 0.0, "b": 0.0, "count": 0}  # regression: squared, absolute; classification: correct, CE
    outputs = []
    for start in range(0, n, batch):
        x, y = dataset.get_batch(np.arange(start, min(n, start + batch)))
        out = model(x.to(device), tau=tau, stride=stride)  # (B d_output)
        y = y.to(device)
        if dataset.task == "regression":
            err = (out - y.reshape(out.shape).to(out.dtype)).double()
            sums["a"] += err.square().sum().item()
            sums["b"] += err.abs().sum().item()
            sums["count"] += err.numel()
        else:
            sums["a"] += (out.argmax(dim=-1) == y).sum().item()
            sums["b"] += F.cross_entropy(out.double(), y.long(), reduction="sum").item()
            sums["count"] += len(y)
        if return_outputs:
            outputs.append(out.float().cpu().numpy())
    model.train(was_training)
    if dataset.task == "regression":
        metrics = {"rmse": math.sqrt(sums["a"] / sums["count"]), "mae": sums["b"] / sums["count"], "n": n}
    else:
        metrics = {"accuracy": sums["a"] / n, "loss": sums["b"] / n, "n": n}
    if return_outputs:
        metrics["outputs"] = np.concatenate(outputs) if outputs else np.zeros((0, dataset.d_output), np.float32)
    return metrics
