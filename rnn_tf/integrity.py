"""Is a run folder what its last commit says it is? SHA-256 fingerprints, recorded at every commit.

``state.json`` is written last for every epoch (the commit point). It also records ``files``: a
SHA-256 of every file the committed epochs depend on:
  * each committed checkpoint (``checkpoints/epoch-NNN.weights.h5``);
  * the vocabularies and the split, byte for byte;
  * ``config.json``'s identity: its settings except those ``--resume`` may change (epochs, patience,
    ...), so that a resume may rewrite them and nothing else.
Loading a run (to resume, sample, score, translate) checks the files it uses against the record,
and a file that differs is named: "vocab.json changed since epoch 3 was saved". Two tokens swapped
in a vocabulary, or a hand-edited setting, can no longer slip into a resumed run silently. Run
folders written before this record existed load as before.
"""

from __future__ import annotations

import hashlib
import json
import os

from rnn_tf.errors import UserError
from rnn_tf.runs import RunDir

DATA_FILES = ("vocab.json", "source_vocab.json", "target_vocab.json", "char_vocab.json", "split.json") + tuple(
    f"feature_vocab_{k}.json" for k in range(1, 10))


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def config_identity(config: dict, resumable) -> str:
    """The fingerprint of a config's settings, leaving out those ``--resume`` may change."""
    fixed = {k: v for k, v in config.items() if k not in resumable}
    return hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest()


def data_hashes(run: RunDir, resumable) -> dict:
    """Fingerprints of the run's config and data files, as they are now."""
    hashes = {"config.json": config_identity(run.read_config(), resumable)}
    for name in DATA_FILES:
        path = os.path.join(run.path, name)
        if os.path.isfile(path):
            hashes[name] = sha256_file(path)
    return hashes


def committed_files(run: RunDir, state: dict, epoch: int, resumable) -> dict:
    """What the commit of ``epoch`` records: the earlier record, plus this epoch's checkpoint and the
    config and data files."""
    files = dict(state.get("files") or {})
    files[relative(run, run.checkpoint(epoch))] = sha256_file(run.checkpoint(epoch))
    files.update(data_hashes(run, resumable))
    return files


def relative(run: RunDir, path: str) -> str:
    return os.path.relpath(path, run.path).replace(os.sep, "/")


def changes(run: RunDir, resumable, weights: str | None = None, state: dict | None = None) -> list[str]:
    """The recorded files that are missing or differ now: the config and data files, and ``weights``
    (a path) when the record has it. Empty for a folder without a record."""
    state = run.read_state() if state is None else state
    files = state.get("files")
    if not isinstance(files, dict):
        return []
    now = data_hashes(run, resumable)
    problems = []
    for name, recorded in files.items():
        if name not in now and name not in DATA_FILES and name != "config.json":
            continue  # a checkpoint: checked below when it is the one being used
        if name not in now:
            problems.append(f"{name} is missing")
        elif now[name] != recorded:
            problems.append(f"{name} changed since epoch {state['epoch']} was saved")
    if weights is not None:
        name = relative(run, weights)
        if name in files:
            if not os.path.isfile(weights):
                problems.append(f"{name} is missing")
            elif sha256_file(weights) != files[name]:
                problems.append(f"{name} changed since it was saved")
    return problems


def verify(run: RunDir, resumable, weights: str | None = None) -> None:
    """Refuse to use a run whose files differ from its last commit's record (a UserError naming them)."""
    problems = changes(run, resumable, weights)
    if problems:
        raise UserError(f"run folder '{run.path}': {'; '.join(problems)}: restore the file(s) from a copy, "
                        "or start the run again with --overwrite")
