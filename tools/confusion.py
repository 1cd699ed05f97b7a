"""One binary confusion matrix for every evaluation: the policy pack's agreement with upstream labels
and the safety scanners' detection rates count the same four cells."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfusionMatrix"]


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class ConfusionMatrix:
    """Counts of predictions against labels, "positive" meaning flagged (a violation, an attack)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, *, actual: bool, predicted: bool) -> None:
        """Count one case; keyword-only so that the label and the prediction cannot be swapped."""
        if actual and predicted:
            self.tp += 1
        elif actual:
            self.fn += 1
        elif predicted:
            self.fp += 1
        else:
            self.tn += 1

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def agreement(self) -> float | None:
        """Share of cases where prediction and label agree (accuracy); None without cases."""
        return _ratio(self.tp + self.tn, self.total)

    @property
    def tpr(self) -> float | None:
        """Recall: flagged share of the positives."""
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def fpr(self) -> float | None:
        """Flagged share of the negatives."""
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
