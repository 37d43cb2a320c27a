"""Small data sets that ship with packages, returned as numpy arrays (nothing is downloaded)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from paperzoo.shared.validate import check_range


@dataclass(frozen=True)
class Split:
    """Train/validation/test arrays of a classification data set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


DIGITS_SIZE = 1797  # images in scikit-learn's digits


def digits_split_sizes(test_fraction: float = 0.2, val_fraction: float = 0.2) -> tuple[int, int, int]:
    """(train, validation, test) sizes of :func:`load_digits_split`, without loading the data.

    scikit-learn's rule: the held-out part of ``n`` images is ``ceil(fraction * n)``. The defaults give
    (1149, 288, 360); the resolution of a test accuracy is ``1 / test``.
    """
    check_range("test_fraction", test_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_range("val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    n_test = math.ceil(test_fraction * DIGITS_SIZE)
    n_val = math.ceil(val_fraction * (DIGITS_SIZE - n_test))
    return DIGITS_SIZE - n_test - n_val, n_val, n_test


def digits_val_example() -> float:
    """One validation example of :func:`load_digits_split`'s default split, as an accuracy (``1/288``): the
    learning-rate tie tolerance of the digits papers (:func:`paperzoo.shared.lr_grid.select_learning_rates`)."""
    return 1 / digits_split_sizes()[1]


def load_digits_split(test_fraction: float = 0.2, val_fraction: float = 0.2, split_seed: int = 0) -> Split:
    """scikit-learn's 1797 8x8 digits, scaled to [0, 1], as images of shape (n, 8, 8) float32.

    The test set is ``test_fraction`` of all images; the validation set ``val_fraction`` of the rest. Both
    splits are stratified and fixed by ``split_seed`` alone, so every training seed sees the same split.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    check_range("test_fraction", test_fraction, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    check_range("val_fraction", val_fraction, 0.0, 1.0, high_inclusive=False)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=split_seed
    )
    if val_fraction == 0:
        x_train, y_train = x_rest, y_rest
        x_val, y_val = x_rest[:0], y_rest[:0]
    else:
        x_train, x_val, y_train, y_val = train_test_split(
            x_rest, y_rest, test_size=val_fraction, stratify=y_rest, random_state=split_seed
        )
    return Split(x_train, y_train, x_val, y_val, x_test, y_test, n_classes=10)
