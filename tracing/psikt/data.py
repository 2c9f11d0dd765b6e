"""Dataset containers and loaders for knowledge-tracing logs.

Everything here is plain numpy: the fitter turns a :class:`Dataset` into padded torch batches, the
online filter and the baselines read it directly. Two public formats are supported:

* pyKT CSV ``fold,uid,concepts,responses[,...]``: one row per learner, comma-joined sequences. pyKT
  logs carry no timestamps, so the position in the sequence is the time (one unit per answer), and
  there are no question ids, so each concept doubles as its own item. Multi-concept answers use
  pyKT's ``_`` separator; ``-1`` is pyKT's padding and is dropped.
* ASSISTments TSV ``user_id item_id timestamp correct skill_id``: one row per answer; timestamps in
  seconds are converted to days, the unit the Django side uses too. :func:`assistments_columns` and
  :func:`assistments_answer` are the one reading of a row, shared by the benchmark's loader
  (:func:`load_tsv`) and the log importer (``tutor/log_import.py``), so both see the same answers
  and the same KCs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tracing.psikt.timeunit import days_from_seconds

ASSISTMENTS_COLUMNS = ("user_id", "item_id", "timestamp", "correct", "skill_id")
# skill_id cells that name no skill: empty, or a missing value as pandas and SQL exports write it.
NO_SKILL = frozenset({"", "nan", "none", "null"})


@dataclass
class LearnerSeq:
    """One learner's answers in time order.

    ``kcs`` is ``[T, S]`` padded with -1, so an answer may touch up to ``S`` KCs.
    """

    learner: int
    items: np.ndarray  # [T] int64, index into Dataset.items
    kcs: np.ndarray  # [T, S] int64, index into Dataset.kcs, -1 = padding
    correct: np.ndarray  # [T] int8 in {0, 1}
    times: np.ndarray  # [T] float64, non-decreasing, in the dataset's time unit

    def __len__(self) -> int:
        return len(self.items)

    def head(self, n: int) -> LearnerSeq:
        return LearnerSeq(self.learner, self.items[:n], self.kcs[:n], self.correct[:n], self.times[:n])


@dataclass
class Dataset:
    """Answers grouped by learner, with string keys for learners, items and KCs."""

    learners: list[str]
    items: list[str]
    kcs: list[str]
    seqs: list[LearnerSeq]
    # KCs of every item (the union seen in the log), used when an item is predicted without a row.
    item_kcs: list[tuple[int, ...]] = field(default_factory=list)
    time_unit: str = "step"

    @property
    def n_observations(self) -> int:
        return int(sum(len(s) for s in self.seqs))

    def subset(self, learner_positions: Sequence[int]) -> Dataset:
        """The same vocabularies, restricted to some sequences (positions in ``seqs``)."""
        return Dataset(
            self.learners,
            self.items,
            self.kcs,
            [self.seqs[i] for i in learner_positions],
            self.item_kcs,
            self.time_unit,
        )


class _Vocab:
    def __init__(self, keys: Iterable[str] = ()) -> None:
        self.keys: list[str] = []
        self.index: dict[str, int] = {}
        for key in keys:
            self.get(key)

    def get(self, key: str) -> int:
        idx = self.index.get(key)
        if idx is None:
            idx = self.index[key] = len(self.keys)
            self.keys.append(key)
        return idx


class DatasetBuilder:
    """Collects answers one by one (any order) and produces a :class:`Dataset`.

    Used by the loaders and by ``tracing.services`` to turn ORM rows into training data, so every
    caller shares one definition of ordering, padding and vocabularies.
    """

    def __init__(
        self,
        *,
        kcs: Iterable[str] = (),
        items: Iterable[str] = (),
        time_unit: str = "step",
    ) -> None:
        self._learners = _Vocab()
        self._items = _Vocab(items)
        self._kcs = _Vocab(kcs)
        self._rows: dict[int, list[tuple[float, int, int, tuple[int, ...], int]]] = {}
        self._item_kcs: dict[int, set[int]] = {}
        self._order = 0
        self.time_unit = time_unit

    def add(self, learner: str, item: str, kcs: Sequence[str], correct: bool | int, time: float) -> None:
        lidx = self._learners.get(learner)
        iidx = self._items.get(item)
        kidx = tuple(self._kcs.get(k) for k in kcs)
        self._item_kcs.setdefault(iidx, set()).update(kidx)
        # The insertion counter breaks ties between equal timestamps in log order.
        self._rows.setdefault(lidx, []).append((float(time), self._order, iidx, kidx, int(bool(correct))))
        self._order += 1

    def build(self) -> Dataset:
        seqs = []
        for lidx, rows in self._rows.items():
            rows.sort(key=lambda r: (r[0], r[1]))
            width = max(1, max(len(r[3]) for r in rows))
            kcs = np.full((len(rows), width), -1, dtype=np.int64)
            for t, r in enumerate(rows):
                kcs[t, : len(r[3])] = r[3]
            seqs.append(
                LearnerSeq(
                    learner=lidx,
                    items=np.array([r[2] for r in rows], dtype=np.int64),
                    kcs=kcs,
                    correct=np.array([r[4] for r in rows], dtype=np.int8),
                    times=np.array([r[0] for r in rows], dtype=np.float64),
                )
            )
        item_kcs = [tuple(sorted(self._item_kcs.get(i, ()))) for i in range(len(self._items.keys))]
        return Dataset(
            list(self._learners.keys),
            list(self._items.keys),
            list(self._kcs.keys),
            seqs,
            item_kcs,
            self.time_unit,
        )


def load_pykt_csv(paths: Path | str | Sequence[Path | str], *, max_learners: int | None = None) -> Dataset:
    """Load one or more pyKT CSV files into one dataset with shared vocabularies.

    Passing the train and test files together keeps item/KC indices aligned between them; split
    afterwards with :func:`split_by_source` or by learner keys.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    builder = DatasetBuilder(time_unit="step")
    for path in paths:
        stem = Path(path).stem
        with open(path, newline="") as fh:
            for n, row in enumerate(csv.DictReader(fh)):
                if max_learners is not None and n >= max_learners:
                    break
                concepts = row["concepts"].split(",")
                responses = row["responses"].split(",")
                # A learner may appear in several pyKT windows; the file name keeps train and test
                # learners apart and the row number keeps windows apart.
                learner = f"{stem}:{row['uid']}:{n}"
                for t, (concept, response) in enumerate(zip(concepts, responses, strict=True)):
                    if concept == "-1" or response == "-1":
                        continue
                    kcs = concept.split("_")
                    builder.add(learner, concept, kcs, int(response), float(t))
    return builder.build()


def split_by_source(dataset: Dataset, prefix: str) -> tuple[Dataset, Dataset]:
    """Split a dataset loaded from several pyKT files by the file stem in the learner key."""
    inside = [i for i, s in enumerate(dataset.seqs) if dataset.learners[s.learner].startswith(prefix + ":")]
    chosen = set(inside)
    outside = [i for i in range(len(dataset.seqs)) if i not in chosen]
    return dataset.subset(inside), dataset.subset(outside)


class AssistmentsFormatError(ValueError):
    """A header or a row that is not in the ASSISTments format; the message starts with its line."""


@dataclass(frozen=True)
class AssistmentsAnswer:
    """One row of an ASSISTments log, read."""

    line: int
    learner: str  # user_id
    item: str  # item_id
    at: datetime  # timestamp, seconds since the Unix epoch, as an aware UTC datetime
    seconds: float
    correct: bool
    kcs: tuple[str, ...]  # the skills of skill_id, in order, none when it names none
    key: str  # the row's five cells as read: identifies the row (the importer's idempotency key)

    @property
    def days(self) -> float:
        return days_from_seconds(self.seconds)


def assistments_columns(header: Sequence[str]) -> dict[str, int]:
    """Where the five columns are in a header line's cells: names in any case and order, other
    columns ignored. Raises :class:`AssistmentsFormatError` naming the missing ones."""
    lowered = [h.strip().lower() for h in header]
    missing = [c for c in ASSISTMENTS_COLUMNS if c not in lowered]
    if missing:
        expected = " ".join(ASSISTMENTS_COLUMNS)
        raise AssistmentsFormatError(
            f"line 1: missing ASSISTments column(s): {', '.join(missing)} (expected {expected})."
        )
    return {c: lowered.index(c) for c in ASSISTMENTS_COLUMNS}


def assistments_skills(cell: str) -> tuple[str, ...]:
    """The KCs a ``skill_id`` cell names: several joined by ``_`` (pyKT's separator) or ``,``;
    none for an empty or missing value (``nan``, ``none``, ``null``)."""
    cell = cell.strip()
    if cell.lower() in NO_SKILL:
        return ()
    return tuple(k.strip() for k in cell.replace("_", ",").split(",") if k.strip().lower() not in NO_SKILL)


def assistments_answer(cells: Sequence[str], columns: Mapping[str, int], *, line: int) -> AssistmentsAnswer:
    """Read one data row (its cells, split on tabs) with the header's ``columns``. Raises
    :class:`AssistmentsFormatError` saying what is wrong with the row."""
    user, item, stamp, correct, skill = (cells[columns[c]].strip() for c in ASSISTMENTS_COLUMNS)
    if not user or not item:
        raise AssistmentsFormatError(f"line {line}: user_id and item_id must not be empty.")
    try:
        right = float(correct)
    except ValueError:
        right = math.nan
    if right not in (0.0, 1.0):
        raise AssistmentsFormatError(f"line {line}: correct must be 0 or 1, got {correct!r}.")
    try:
        seconds = float(stamp)
        at = datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise AssistmentsFormatError(f"line {line}: timestamp {stamp!r} is not a number of seconds.") from None
    key = "\x1f".join([user, item, stamp, correct, skill])
    return AssistmentsAnswer(line, user, item, at, seconds, right == 1.0, assistments_skills(skill), key)


def read_assistments(path: Path | str) -> Iterator[AssistmentsAnswer]:
    """Every answer of an ASSISTments TSV file (UTF-8, a header line first, blank lines skipped).
    Raises :class:`AssistmentsFormatError` at the first line it cannot read."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        header = fh.readline().rstrip("\r\n").split("\t")
        columns = assistments_columns(header)
        for number, text in enumerate(fh, start=2):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            cells = text.split("\t")
            if len(cells) != len(header):
                raise AssistmentsFormatError(
                    f"line {number}: expected {len(header)} tab-separated fields, got {len(cells)}."
                )
            yield assistments_answer(cells, columns, line=number)


def load_tsv(path: Path | str, *, max_learners: int | None = None) -> Dataset:
    """Load an ASSISTments ``user_id item_id timestamp correct skill_id`` TSV; times become days."""
    builder = DatasetBuilder(time_unit="day")
    seen: set[str] = set()
    for answer in read_assistments(path):
        if max_learners is not None and answer.learner not in seen:
            if len(seen) >= max_learners:
                continue
            seen.add(answer.learner)
        builder.add(answer.learner, answer.item, answer.kcs, answer.correct, answer.days)
    return builder.build()


def split_learners(dataset: Dataset, *, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """Split by learner (not by answer) with a fixed seed: train, test."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dataset.seqs))
    n_test = round(len(order) * test_fraction)
    test = sorted(order[:n_test].tolist())
    train = sorted(order[n_test:].tolist())
    return dataset.subset(train), dataset.subset(test)
