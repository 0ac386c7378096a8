"""Ingest for forecasting: a dated csv series or a generated sine, in time order, split by period.

The examples are points, one per time step: step (0, 1, ... in time order), date (ISO 8601;
empty for a sine) and value (the target). A quarantine line has the row's date and target cells
as read; not_sampled is always 0. Beside the layout of shared.py, `series.json` records the
source, target, sine noise, and each split's size and first and last date (or step).

The splits are periods: the oldest `series_train_fraction` of the points is train, the next
`series_eval_fraction` eval, the newest rest test. Nothing is shuffled across time.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Iterator

import apache_beam as beam
import numpy as np
import tensorflow as tf
from apache_beam.io.filesystems import FileSystems

from components.common import features as F
from components.common.artifacts import SERIES_FILE
from components.common.config import ConfigError, IngestConfig, SeriesConfig
from components.common.examples import POINT_FEATURES
from components.ingest.records import HeaderError, read_csv
from components.ingest.shared import (
    QUARANTINE,
    IngestError,
    position_order,
    quarantine_line,
    shown,
    write_json_file,
    write_quarantine_and_counts,
    write_splits,
)

SUMMARY = "summary"
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# Day-month-year with an English month abbreviation (11-Aug-17), as Yahoo Finance exports it;
# matched here rather than with strptime's %b, which follows the machine's locale.
_DAY_MONTH_YEAR = re.compile(r"(\d{1,2})[- ]([A-Za-z]{3})[- ](\d{4}|\d{2})")


def parse_date(text: str | None) -> datetime.datetime | None:
    """The moment a date cell names, or None: ISO 8601 or day-month-year like 11-Aug-17.

    Two-digit years are 1969-2068, as in POSIX strptime. A time zone is converted to UTC and
    dropped, so every moment of a series compares with every other.
    """
    text = (text or "").strip()
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        match = _DAY_MONTH_YEAR.fullmatch(text)
        month = _MONTHS.get(match.group(2).lower()) if match else None
        if month is None:
            return None
        day, year = int(match.group(1)), int(match.group(3))
        if len(match.group(3)) == 2:
            year += 2000 if year < 69 else 1900
        try:
            moment = datetime.datetime(year, month, day)
        except ValueError:  # 31-Feb-17
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment


def iso_date(moment: datetime.datetime) -> str:
    """ISO 8601, without a time of day where there is none."""
    if moment.time() == datetime.time():
        return moment.date().isoformat()
    return moment.isoformat()


def parse_number(text: str | None) -> tuple[float | None, str | None]:
    """A finite number from a cell, or None and the reason it is not one."""
    if text is None or not text.strip():
        return None, "missing_value"
    try:
        number = float(text)
    except ValueError:
        return None, "non_numeric_value"
    if not math.isfinite(number):
        return None, "non_numeric_value"
    return number, None


def validate_row(
    row: dict, position: str, date_field: str, target_columns: tuple[str, ...]
) -> tuple[dict | None, str | None]:
    """A csv row as a point of the series (its target: the mean of the target columns), or the
    reason it cannot be one."""
    moment = parse_date(row.get(date_field))
    if moment is None:
        return None, "unparseable_date"
    numbers = []
    for column in target_columns:
        number, reason = parse_number(row.get(column))
        if reason:
            return None, reason
        numbers.append(number)
    point = {
        "position": position,
        "order": moment,
        F.DATE_KEY: iso_date(moment),
        F.VALUE_KEY: sum(numbers) / len(numbers),
    }
    return point, None


def quarantined(
    source_spec: str, position: str, reason: str, detail: str, date: object, values: dict
) -> beam.pvalue.TaggedOutput:
    """The quarantine line of a set-aside row, on the QUARANTINE output: its date and target
    cells as read."""
    cells = {column: shown(value) for column, value in values.items()}
    line = quarantine_line(source_spec, position, reason, detail, date=shown(date), values=cells)
    return beam.pvalue.TaggedOutput(QUARANTINE, line)


def csv_files(location: str) -> list[str]:
    """The csv files of a series: the file itself, or each `*.csv` in a folder, by name."""
    if tf.io.gfile.isdir(location):
        # Listed, not globbed: a folder name with `[` or `*` is a name.
        names = sorted(tf.io.gfile.listdir(location))
        return [f"{location.rstrip('/')}/{name}" for name in names if name.endswith(".csv")]
    return [location]


def check_csv_columns(location: str, source_spec: str, series: SeriesConfig) -> None:
    """Raises ConfigError unless every csv file of the series has a readable header with the
    date and target columns, each named once."""
    files = csv_files(location)
    if not files:
        raise ConfigError(f"--source={source_spec!r} is not allowed: no .csv files in {location}")
    for path in files:
        try:
            with FileSystems.open(path) as f:
                header, _ = read_csv(f, path)
        except HeaderError as error:
            raise ConfigError(f"--source={source_spec!r} is not allowed: {error}") from None
        for option, column in [("date_field", series.date_field)] + [
            ("target", column) for column in series.target_columns
        ]:
            if column not in header:
                value = getattr(series, option)
                raise ConfigError(
                    f"--{option.replace('_', '-')}={value!r} is not allowed: {path} has no "
                    f"column {column!r} (its columns: {', '.join(header)})"
                )


class ParseCsvRows(beam.DoFn):
    """Rows of a csv file as points of the series, bad rows on QUARANTINE with their reason."""

    def __init__(self, source_spec: str, series: SeriesConfig):
        self._source_spec, self._series = source_spec, series

    def process(self, path: str) -> Iterator:
        columns = (self._series.date_field, *self._series.target_columns)
        with FileSystems.open(path) as lines:
            try:
                _, records = read_csv(lines, path)
            except HeaderError as error:  # Checked before the run; changed since.
                raise IngestError(str(error)) from None
            for record in records:
                row, reason, detail = record.fields or {}, record.reason, record.detail
                point = None
                if not reason:
                    point, reason = validate_row(
                        row, record.position, self._series.date_field, columns[1:]
                    )
                if point is not None:
                    yield point
                else:
                    cells = {column: row.get(column) for column in columns[1:]}
                    yield quarantined(
                        self._source_spec,
                        record.position,
                        reason,
                        detail,
                        row.get(columns[0]),
                        cells,
                    )


def sine_points(series: SeriesConfig) -> list[dict]:
    """The generated series: amplitude * sin(2 pi t / period) + Gaussian noise, t = 0, 1, ..."""
    steps = np.arange(series.sine_length)
    noise = np.random.default_rng(series.sine_seed).normal(0.0, series.sine_noise, len(steps))
    values = series.sine_amplitude * np.sin(2 * np.pi * steps / series.sine_period) + noise
    return [
        {"position": f"sine:{step}", "order": int(step), F.DATE_KEY: "", F.VALUE_KEY: float(value)}
        for step, value in zip(steps, values, strict=True)
    ]


def split_boundaries(points: int, train_fraction: float, eval_fraction: float) -> tuple[int, int]:
    """The first eval step and the first test step of a series of `points` points."""
    # The epsilon keeps 2000 * 0.85 at 1700, not 1699 through floating-point rounding.
    first_eval = math.floor(points * train_fraction + 1e-9)
    first_test = math.floor(points * (train_fraction + eval_fraction) + 1e-9)
    return first_eval, first_test


def order_in_time(
    points: list[dict], train_fraction: float, eval_fraction: float
) -> tuple[list[dict], list[dict]]:
    """The points sorted by time with their step and split, and the later duplicates of a time.

    Of points with the same time the first in the source is kept.
    """
    ordered, duplicates = [], []
    for point in sorted(points, key=lambda p: (p["order"], position_order(p["position"]))):
        if ordered and ordered[-1]["order"] == point["order"]:
            duplicates.append(point)
        else:
            ordered.append(point)
    first_eval, first_test = split_boundaries(len(ordered), train_fraction, eval_fraction)
    splits = [
        "train" if step < first_eval else "eval" if step < first_test else "test"
        for step in range(len(ordered))
    ]
    ordered = [
        {F.STEP_KEY: step, F.DATE_KEY: p[F.DATE_KEY], F.VALUE_KEY: p[F.VALUE_KEY], "split": split}
        for step, (p, split) in enumerate(zip(ordered, splits, strict=True))
    ]
    return ordered, duplicates


def describe(ordered: list[dict], description: dict) -> dict:
    """`description` with the size and the first and last date (or step) of each split."""
    periods = {}
    for split in F.SPLITS:
        points = [p for p in ordered if p["split"] == split]
        periods[split] = {"points": len(points)}
        if points:
            for end, point in (("first", points[0]), ("last", points[-1])):
                periods[split][end] = point[F.DATE_KEY] or point[F.STEP_KEY]
    return dict(description, periods=periods)


class OrderInTime(beam.PTransform):
    """Sorts the points by time, numbers them and splits them into periods.

    The whole series goes through one worker as one list: a series of daily values for a
    century is under 40,000 points.
    """

    def __init__(self, series: SeriesConfig, source_spec: str, description: dict):
        super().__init__()
        self._series, self._source_spec, self._description = series, source_spec, description

    def expand(self, points):
        return (
            points
            | "AllPoints" >> beam.combiners.ToList()
            | "SortAndSplit"
            >> beam.FlatMap(self._order).with_outputs(QUARANTINE, SUMMARY, main="ordered")
        )

    def _order(self, points: list[dict]) -> Iterator:
        ordered, duplicates = order_in_time(
            points, self._series.series_train_fraction, self._series.series_eval_fraction
        )
        yield from ordered
        for point in duplicates:
            yield quarantined(
                self._source_spec,
                point["position"],
                "duplicate_date",
                "an earlier row has the same time; the first is kept",
                point[F.DATE_KEY],
                {self._series.target: point[F.VALUE_KEY]},
            )
        yield beam.pvalue.TaggedOutput(SUMMARY, describe(ordered, self._description))


def _description(config: IngestConfig, series: SeriesConfig) -> dict:
    if config.parsed_source.kind == "sine":
        return {
            "source": config.source,
            "kind": "sine",
            "target": "sine",
            "noise_std": series.sine_noise,
        }
    return {
        "source": config.source,
        "kind": "csv",
        "target": list(series.target_columns),
        "noise_std": None,
    }


def build_ingest_pipeline(
    root, config: IngestConfig, output_dir: str, series: SeriesConfig
) -> None:
    """Adds the whole forecast ingest graph to a pipeline (separate from running it, for tests).

    Raises ConfigError first where a csv file lacks the date or a target column.
    """
    source = config.parsed_source
    if source.kind == "sine":
        points = root | "GenerateSine" >> beam.Create(sine_points(series))
        unparsed = root | "NothingUnparsed" >> beam.Create([])
    else:
        check_csv_columns(source.location, config.source, series)
        parsed = (
            root
            | "CsvFiles" >> beam.Create(csv_files(source.location))
            | "ParseRows"
            >> beam.ParDo(ParseCsvRows(config.source, series)).with_outputs(
                QUARANTINE, main="points"
            )
        )
        points, unparsed = parsed.points, parsed[QUARANTINE]
    ordered = points | "OrderInTime" >> OrderInTime(
        series, config.source, _description(config, series)
    )

    read = (points, unparsed) | "AllRead" >> beam.Flatten()
    count_keys = [read | "CountRead" >> beam.Map(lambda _: "read")]
    by_split = ordered.ordered | "BySplit" >> beam.Partition(
        lambda point, _: F.SPLITS.index(point["split"]), len(F.SPLITS)
    )
    count_keys += write_splits(
        dict(zip(F.SPLITS, by_split, strict=True)), POINT_FEATURES, output_dir
    )
    quarantine = (unparsed, ordered[QUARANTINE]) | "AllQuarantined" >> beam.Flatten()
    write_quarantine_and_counts(quarantine, count_keys, output_dir)
    write_json_file(ordered[SUMMARY], output_dir, SERIES_FILE, "Series", sort_keys=True)
