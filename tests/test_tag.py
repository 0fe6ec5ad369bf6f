"""The sequence-tagging task: a tiny CoNLL-style file the tests write, trained in seconds; the RNN and
both baselines through the same run folder, scores and commands."""

import json

import pytest

from helpers import assert_user_error, exit_code, train_run

# word, POS, IOB chunk: a language small enough to learn in a few steps
SENTENCES = [
    [("the", "DT", "B-NP"), ("cat", "NN", "I-NP"), ("sat", "VBD", "B-VP"), (".", ".", "O")],
    [("a", "DT", "B-NP"), ("dog", "NN", "I-NP"), ("ran", "VBD", "B-VP"), (".", ".", "O")],
    [("the", "DT", "B-NP"), ("dog", "NN", "I-NP"), ("sat", "VBD", "B-VP"), ("down", "RP", "B-PRT"), (".", ".", "O")],
    [("a", "DT", "B-NP"), ("bird", "NN", "I-NP"), ("sang", "VBD", "B-VP"), (".", ".", "O")],
]


def write_conll(path, copies=8, extra=()):
    lines = ["-DOCSTART- -X- O", ""]
    for k in range(copies):
        for sentence in SENTENCES + list(extra):
            lines += [f"{w}\t{p}\t{c}" for w, p, c in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TINY_TAG = dict(units=8, embedding_dim=6, batch_size=8, epochs=2, seed=3, char_dim=4, char_filters=4)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_conll(tmp_path_factory.mktemp("tag") / "train.conll")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    run_dir = tmp_path_factory.mktemp("tag") / "run"
    return run_dir, train_run("tag", run_dir, {"data": str(data), **TINY_TAG, "char_features": True,
                                               "feature_columns": [1], "embedding_init": "normal"})


def test_a_tagger_run_is_complete_and_scores_tokens_unseen_words_and_spans(trained):
    run_dir, result = trained
    for name in ("config.json", "vocab.json", "char_vocab.json", "feature_vocab_1.json", "split.json",
                 "best.weights.h5", "metrics.json", "confusion.png", "history.csv", "samples.txt"):
        assert (run_dir / name).is_file(), name
    report = result.report
    assert set(report["per_tag"]) == {"B-NP", "I-NP", "B-VP", "B-PRT", "O"}
    assert 0.0 <= report["accuracy"] <= 1.0 and report["span_f1"] is not None
    assert report["tokens"] == sum(int(v["support"]) for v in report["per_tag"].values())
    assert "tags after epoch 2" in (run_dir / "samples.txt").read_text(encoding="utf-8")
    assert json.loads((run_dir / "config.json").read_text())["embedding_init"] == "normal"


def test_evaluate_and_predict_agree_with_training(trained, capsys, tmp_path):
    run_dir, result = trained
    assert exit_code(["tag", "evaluate", "--run-dir", str(run_dir), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "unseen_accuracy", "per_tag", "span_f1"} <= set(report)
    assert report["accuracy"] == pytest.approx(result.report["accuracy"])
    assert_user_error(["tag", "predict", "--run-dir", str(run_dir), "the cat sat ."], capsys, "feature columns")


@pytest.mark.parametrize("model", ["rnn", "most-frequent", "perceptron"])
def test_every_model_trains_evaluates_and_predicts(model, data, tmp_path, capsys):
    run_dir = tmp_path / model
    settings = {"data": str(data), **TINY_TAG, "model": model, "epochs": 3}
    result = train_run("tag", run_dir, settings)
    if model != "rnn":  # the baselines learn this language exactly
        assert result.report["accuracy"] == 1.0 and result.report["span_f1"] == 1.0
    assert exit_code(["tag", "predict", "--run-dir", str(run_dir), "the dog sang .", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert out["tokens"] == ["the", "dog", "sang", "."] and len(out["tags"]) == 4
    assert exit_code(["tag", "predict", "--run-dir", str(run_dir), "a cat ran ."]) == 0
    assert capsys.readouterr().out.startswith("a/")


def test_resume_continues_the_history(data, tmp_path):
    run_dir = tmp_path / "run"
    train_run("tag", run_dir, {"data": str(data), **TINY_TAG})
    result = train_run("tag", run_dir, {"epochs": 3}, resume=True)
    assert [r["epoch"] for r in result.history] == ["1", "2", "3"]


def test_tag_user_errors(trained, data, tmp_path, capsys):
    run_dir, _ = trained
    assert_user_error(["tag", "predict", "--run-dir", str(run_dir), "  "], capsys, "no sentence to tag")
    unseen = write_conll(tmp_path / "other.conll", copies=1, extra=[[("x", "NN", "B-ADJP")]])
    assert_user_error(["tag", "evaluate", "--run-dir", str(run_dir), "--data", str(unseen)], capsys,
                      "tags the run never saw")
    bad = tmp_path / "bad.conll"
    bad.write_text("the\tDT\ncat\n", encoding="utf-8")
    assert_user_error(["tag", "train", "--data", str(bad), "--run-dir", str(tmp_path / "r")], capsys, "line 2")
    assert_user_error(["tag", "train", "--run-dir", str(tmp_path / "r")], capsys, "no data given")
    assert_user_error(["tag", "train", "--data", str(data), "--embedding-init", "glorot", "--run-dir",
                       str(tmp_path / "r")], capsys, "invalid choice: 'glorot'")
    assert not (tmp_path / "r").exists()
