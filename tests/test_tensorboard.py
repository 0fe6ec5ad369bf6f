"""``--tensorboard``: every committed epoch's figures (and samples) in RUN/tensorboard, for every task
through the one lifecycle; a resumed run appends; off by default."""

import glob
import os

from conftest import TINY, TINY_CLASSIFY, labelled_rows, write_csv
from helpers import train_run


def events(run_dir) -> dict:
    """{tag: sorted steps} of every event file under RUN/tensorboard."""
    import tensorflow as tf

    seen: dict[str, set] = {}
    for path in glob.glob(os.path.join(str(run_dir), "tensorboard", "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                seen.setdefault(value.tag, set()).add(event.step)
    return {tag: sorted(steps) for tag, steps in seen.items()}


def test_textgen_logs_every_epoch_and_a_resumed_run_appends(tmp_path, corpus_dir):
    settings = dict(TINY, corpus=str(corpus_dir), tensorboard=True)
    train_run("textgen", tmp_path / "run", dict(settings, epochs=1))
    train_run("textgen", tmp_path / "run", {"epochs": 2}, resume=True)
    tags = events(tmp_path / "run")
    for tag in ("loss", "bpc", "val_loss", "val_bpc", "learning_rate", "grad_norm", "grad_norm_max", "samples"):
        assert tags.get(tag) == [1, 2], (tag, tags)
    train_run("textgen", tmp_path / "plain", dict(TINY, corpus=str(corpus_dir), epochs=1))
    assert not os.path.exists(tmp_path / "plain" / "tensorboard")  # off by default


def test_a_classifier_logs_its_accuracy(tmp_path):
    data = write_csv(tmp_path / "data.csv", labelled_rows())
    train_run("classify", tmp_path / "run", dict(TINY_CLASSIFY, data=str(data), epochs=2, tensorboard=True))
    tags = events(tmp_path / "run")
    assert tags["accuracy"] == [1, 2] and tags["val_accuracy"] == [1, 2] and "samples" not in tags
