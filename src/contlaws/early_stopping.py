"""The pre-registered early-stopping rule of the training engine (config ``train.early_stopping``).

Every model of a comparison trains with the same batch size up to the same epoch cap E (``epochs``)
and stops early by one rule, so no model gets a budget tuned to it:

* the first epoch sets the reference r = its validation metric v_1 (``val_rmse``, lower is better;
  ``val_accuracy`` for classification, higher is better);
* epoch e improves when v_e beats r by at least a relative ``min_delta`` D:
  v_e ≤ r − D·|r| (min) or v_e ≥ r + D·|r| (max), and strictly beats it (so D = 0 asks for any
  improvement); an improving epoch becomes the new reference;
* the run stops after epoch e when ``patience`` P epochs in a row have not improved
  (e − reference epoch = P), or at the cap E, whichever comes first.

Small gains below D do not move the reference, so a slow steady descent still counts once it adds
up to D. The checkpoint kept is the best validation epoch (any improvement), as without the rule.

The decision is a pure function of the metric history, which ``last.pt`` stores: a resumed run
recomputes it and stops at the same epoch as an uninterrupted one (and a run that had stopped does
not train further). The learning-rate schedule stays defined over the cap E.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STOP_EARLY = "early_stop"  # patience ran out
STOP_CAP = "epoch_cap"  # trained every epoch of the cap
STOP_REASONS = (STOP_EARLY, STOP_CAP)


def check_rule(rule: Mapping[str, Any] | None) -> dict | None:
    """The rule as ``{"patience": int, "min_delta": float}`` (None: off); ValueError naming the bad field."""
    if rule is None:
        return None
    if not isinstance(rule, Mapping) or "patience" not in rule:
        raise ValueError(f"early_stopping must be null or a mapping with patience (and min_delta), got {rule!r}")
    patience, min_delta = rule["patience"], rule.get("min_delta", 0.0)
    if isinstance(patience, bool) or int(patience) != patience or int(patience) < 1:
        raise ValueError(f"early_stopping.patience must be a positive integer, got {patience!r}")
    if not float(min_delta) >= 0:
        raise ValueError(f"early_stopping.min_delta must be >= 0, got {min_delta!r}")
    return {"patience": int(patience), "min_delta": float(min_delta)}


def improves(value: float, reference: float, mode: str, min_delta: float) -> bool:
    """Whether ``value`` beats ``reference`` by at least the relative ``min_delta`` (and strictly)."""
    if mode == "min":
        return value < reference and reference - value >= min_delta * abs(reference)
    return value > reference and value - reference >= min_delta * abs(reference)


@dataclass(frozen=True)
class StopDecision:
    """Where the rule stands after the epochs seen so far (epochs counted from 1)."""

    stop: bool
    reason: str | None  # STOP_EARLY when stop, else None (the cap is the caller's)
    reference_epoch: int | None
    reference_value: float | None
    epochs_without_improvement: int


def decide(values: Sequence[float], mode: str, rule: Mapping[str, Any] | None) -> StopDecision:
    """The rule applied to the validation metrics ``values`` of epochs 1..n (in order)."""
    if rule is None or not values:
        return StopDecision(False, None, None, None, 0)
    patience, min_delta = int(rule["patience"]), float(rule["min_delta"])
    ref_epoch, ref_value = 1, float(values[0])
    for epoch, value in enumerate(values[1:], start=2):
        if improves(float(value), ref_value, mode, min_delta):
            ref_epoch, ref_value = epoch, float(value)
    waited = len(values) - ref_epoch
    stop = waited >= patience
    return StopDecision(stop, STOP_EARLY if stop else None, ref_epoch, ref_value, waited)


def decide_from_history(history: Sequence[Mapping[str, Any]], metric: str, mode: str,
                        rule: Mapping[str, Any] | None) -> StopDecision:  # fmt: skip
    """:func:`decide` on the ``metric`` column of metrics rows (``last.pt``'s history)."""
    return decide([row[metric] for row in history], mode, rule)


def stop_record(decision: StopDecision, epochs_used: int, cap: int, rule: Mapping[str, Any] | None) -> dict:
    """The summary.json fields of a finished run: epochs_used, stop_reason and the rule's state."""
    # patience running out at the cap itself is the cap: the run trained every epoch it could
    reason = STOP_EARLY if decision.stop and epochs_used < cap else STOP_CAP
    record: dict[str, Any] = {"epochs_used": int(epochs_used), "epoch_cap": int(cap), "stop_reason": reason}
    record["early_stopping"] = None if rule is None else {
        **rule, "reference_epoch": decision.reference_epoch, "reference_value": decision.reference_value,
        "epochs_without_improvement": decision.epochs_without_improvement}  # fmt: skip
    return record
