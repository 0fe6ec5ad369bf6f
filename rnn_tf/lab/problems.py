"""Synthetic long-range problems, the ones used to compare recurrent cells (NumPy only).

Adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015): every step carries two
numbers, a value drawn from U(0, 1) and a marker. Exactly two steps are marked, one in each half of the
sequence; the target is the sum of the two marked values. Answering 1 whatever the input (the mean
of the sum) gives a mean squared error of Var(U + U') = 1/6 ~ 0.167: a model that does no better has
not learned to carry a value across the sequence.

Copy memory (Arjovsky, Shah & Bengio 2016): ten symbols from an alphabet of eight, then ``length``
blanks with a delimiter at the last of them, then ten more blanks; the model must output blanks until
the delimiter and then the ten symbols, in order. A memoryless model outputs blanks and then guesses
uniformly: a cross-entropy of 10 ln 8 / (length + 20) per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

COPY_SYMBOLS = 8  # the alphabet 1..8; 0 is the blank, 9 the delimiter
COPY_LENGTH = 10  # symbols to remember
BLANK, DELIMITER = 0, COPY_SYMBOLS + 1


@dataclass(frozen=True)
class Batch:
    inputs: np.ndarray  # adding: (n, T, 2) float32; copy: (n, T + 20) int32
    targets: np.ndarray  # adding: (n, 1) float32; copy: (n, T + 20) int32


def adding(n: int, length: int, rng: np.random.Generator) -> Batch:
    """``n`` adding-problem sequences of ``length`` steps."""
    if length < 2:
        raise ValueError(f"the adding problem needs a length of 2 or more, not {length}")
    values = rng.uniform(0.0, 1.0, size=(n, length)).astype(np.float32)
    markers = np.zeros((n, length), np.float32)
    half = length // 2
    rows = np.arange(n)
    markers[rows, rng.integers(0, half, size=n)] = 1.0
    markers[rows, rng.integers(half, length, size=n)] = 1.0
    targets = (values * markers).sum(axis=1, keepdims=True).astype(np.float32)
    return Batch(np.stack([values, markers], axis=-1), targets)


def copy_memory(n: int, length: int, rng: np.random.Generator) -> Batch:
    """``n`` copy-memory sequences: ``length`` blanks between the symbols and their recall."""
    if length < 1:
        raise ValueError(f"the copy task needs a length of 1 or more, not {length}")
    total = length + 2 * COPY_LENGTH
    symbols = rng.integers(1, COPY_SYMBOLS + 1, size=(n, COPY_LENGTH)).astype(np.int32)
    inputs = np.full((n, total), BLANK, np.int32)
    inputs[:, :COPY_LENGTH] = symbols
    inputs[:, COPY_LENGTH + length - 1] = DELIMITER
    targets = np.full((n, total), BLANK, np.int32)
    targets[:, -COPY_LENGTH:] = symbols
    return Batch(inputs, targets)


@dataclass(frozen=True)
class Problem:
    name: str
    make: callable
    loss: str  # what the lab reports: "mse" or "cross-entropy"
    sequence_output: bool  # an output at every step (copy) or one at the end (adding)

    def baseline(self, batch: Batch) -> float:
        """The loss of the trivial answer on ``batch``: the constant 1 (adding) or blanks, then a
        uniform guess (copy)."""
        if self.name == "adding":
            return float(np.mean((batch.targets - 1.0) ** 2))
        return COPY_LENGTH * math.log(COPY_SYMBOLS) / batch.targets.shape[1]


PROBLEMS = {
    "adding": Problem("adding", adding, "mse", False),
    "copy": Problem("copy", copy_memory, "cross-entropy", True),
}


def get_problem(name: str) -> Problem:
    try:
        return PROBLEMS[name]
    except KeyError:
        raise ValueError(f"unknown problem {name!r}: use one of {', '.join(PROBLEMS)}") from None
