"""``--tensorboard``: every committed epoch's figures (and samples) in RUN/tensorboard, for every task
through the one lifecycle; a resumed run appends; off by default."""

import glob
import os

from conftest import TINY, TINY_CLASSIFY, labelled_rows, write_csv, write_pairs
from helpers import train_run


def events(run_dir, folder="tensorboard") -> dict:
    """{tag: sorted steps} of every event file under RUN/tensorboard."""
    import tensorflow as tf

    seen: dict[str, set] = {}
    for path in glob.glob(os.path.join(str(run_dir), folder, "*")):
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
    assert tags["validation_confusion"] == [1, 2]  # an image: the validation split's confusion matrix


def test_a_translator_logs_its_attention_map_and_samples(tmp_path):
    pairs = write_pairs(tmp_path / "fra.txt")
    train_run("translate", tmp_path / "run", dict(pairs=str(pairs), units=8, embedding_dim=6, batch_size=4, epochs=2,
                                                 seed=2, tensorboard=True))
    tags = events(tmp_path / "run")
    assert tags["attention"] == [1, 2] and tags["samples"] == [1, 2] and tags["val_loss"] == [1, 2]
    assert tags["val_bleu"] == [1, 2] and tags["val_chrf"] == [1, 2]
    image = images(tmp_path / "run", "attention")[-1]
    assert image.shape[0] > 50 and image.shape[1] > 50 and image.std() > 0  # a picture, not a blank


def images(run_dir, tag) -> list:
    """Every image logged under ``tag``, decoded."""
    import tensorflow as tf

    found = []
    for path in glob.glob(os.path.join(str(run_dir), "tensorboard", "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == tag:
                    found.append(tf.io.decode_png(tf.make_ndarray(value.tensor)[2]).numpy())
    return found


def test_a_search_logs_every_trial_to_the_hparams_dashboard(tmp_path):
    from rnn_tf.search.run import run_search

    settings = {"data": str(write_csv(tmp_path / "reviews.csv")), "embedding_dim": 4, "batch_size": 8,
                "max_length": 12, "epochs": 1, "seed": 5, "tensorboard": True}
    result = run_search("classify", settings, space_entries={"units": [4, 6], "learning_rate": [0.01, 0.003]},
                        max_trials=2, project_dir=str(tmp_path / "project"), trials_per_process=0)
    completed = [r for r in result.rows if r["status"] == "COMPLETED"]
    trials = sorted(os.listdir(tmp_path / "project" / "tensorboard"))
    assert len(completed) == 2 and trials == ["trial-0", "trial-1"]
    for trial in trials:
        tags = events(tmp_path / "project" / "tensorboard" / trial, folder="")
        assert tags["_hparams_/session_start_info"] == [0] and tags["val_loss"] == [1], tags
