"""What a task hands to a search: its data, prepared once, and its compiled factory.

Each task's workflow module writes ``prepare_search(config) -> SearchData``; the search process and
every trial process call it. This module imports neither TensorFlow nor Keras (the annotations are
strings), so a workflow module can import it at no cost.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    import keras

    from rnn_tf.config import RunConfig


@dataclass
class SearchData:
    """What every trial of a search shares, prepared once."""
    base: RunConfig  # flags + defaults: the settings every trial starts from
    build: Callable[[RunConfig], keras.Model]  # the task's compiled factory for one trial's config
    fit_kwargs: Callable[[], dict]  # data and steps for model.fit (tf.data made only where a trial runs)
    reports: tuple[str, ...]  # the metrics fit reports: the possible objectives
    description: str
    fingerprint: str  # of the prepared examples: a trial process checks it sees the same data


def fingerprint(*parts) -> str:
    """A short hash of prepared data (arrays of ids, lists of texts)."""
    digest = hashlib.sha1()
    for part in parts:
        if part is None:
            digest.update(b"none")
        elif isinstance(part, np.ndarray) and part.dtype.kind == "u":  # cached ids (token_ids) hash as int32 ids
            digest.update(str((np.dtype(np.int32), part.shape)).encode())
            for start in range(0, max(len(part), 1), 1 << 24):  # a memory map, a piece at a time
                digest.update(np.ascontiguousarray(part[start:start + (1 << 24)], np.int32).tobytes())
        elif isinstance(part, np.ndarray):
            digest.update(str((part.dtype, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.hexdigest()[:16]
