"""A series as ingest writes it, read back in time order, and the windows cut from a series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.common import features as F
from components.common.examples import POINT_FEATURES, raw_example_batches

READ_BATCH = 4096


@dataclass(frozen=True)
class Series:
    """A series written by ingest, in time order: per point its step, date, value and split."""

    steps: np.ndarray
    dates: np.ndarray
    values: np.ndarray
    splits: np.ndarray


def read_series(examples_dir: str) -> Series:
    columns = {key: [] for key in POINT_FEATURES}
    splits = []
    for split in F.SPLITS:
        for batch in raw_example_batches(examples_dir, split, READ_BATCH, POINT_FEATURES):
            for key in POINT_FEATURES:
                columns[key].append(batch[key].numpy())
            splits += [split] * len(batch[F.STEP_KEY])
    steps = np.concatenate(columns[F.STEP_KEY])
    order = np.argsort(steps, kind="stable")
    return Series(
        steps=steps[order],
        dates=np.array([d.decode() for d in np.concatenate(columns[F.DATE_KEY])])[order],
        values=np.concatenate(columns[F.VALUE_KEY])[order],
        splits=np.array(splits)[order],
    )


def make_windows(values: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, ...]:
    """Every window of a series in time order: (target positions, histories, targets).

    The window for the point at position t is the `lookback` values ending `horizon` steps
    before it, values[t - horizon - lookback + 1 : t - horizon + 1]; the first
    lookback + horizon - 1 points have none.
    """
    values = np.asarray(values)
    count = max(len(values) - lookback - horizon + 1, 0)
    positions = np.arange(lookback + horizon - 1, lookback + horizon - 1 + count)
    if not count:
        return positions, np.zeros((0, lookback), values.dtype), values[:0]
    histories = np.lib.stride_tricks.sliding_window_view(values, lookback)[:count]
    return positions, histories, values[positions]


def relative_to_last(
    histories: np.ndarray, targets: np.ndarray, change_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Windows and targets as changes from each window's last value, in units of `change_scale`.

    What a model that forecasts the change reads and learns; the serving model applies the
    same arithmetic in TensorFlow (common/serving.py).
    """
    last = histories[:, -1:]
    return (histories - last) / change_scale, (targets - last[:, 0]) / change_scale
