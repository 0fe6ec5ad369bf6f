import io
import json
import os

import numpy as np
import pytest

from conftest import TINY_CLASSIFY, labelled_rows, write_csv
from helpers import assert_user_error, run_model_checks, train_run
from rnn_tf.classify import evaluate_classifier, load_classifier_run, predict, train_classifier
from rnn_tf.cli import main
from rnn_tf.errors import UserError
from rnn_tf.models.classifier import build_classifier
from rnn_tf.runs import RunDir

X = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0], [3, 3, 3, 3, 3], [8, 9, 2, 0, 0]], "int32")
Y = np.array([0, 1, 2, 1])
OPTIONS = [
    dict(model="bow"), dict(model="bow", bow_head="mlp", bow_weighting="count"), dict(model="cnn"),
    dict(cell="lstm", pooling="last"), dict(cell="gru", pooling="mean", bidirectional=True),
    dict(cell="simple_rnn", pooling="max", layers=2), dict(cell="irnn", pooling="attention"),
    dict(cell="lstm", pooling="attention", bidirectional=True, layers=2),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_each_model_option_builds_trains_and_round_trips(options, tmp_path):
    model = build_classifier(10, 3, units=4, embedding_dim=3, filters=4, **options)
    if options.get("model") == "bow":
        model.get_layer("bag_of_words").adapt(X)
    probs = run_model_checks(model, X, Y, (4, 3), "sparse_categorical_crossentropy", tmp_path)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # Right padding is masked: more of it never changes a prediction.
    np.testing.assert_allclose(model.predict(np.pad(X, ((0, 0), (0, 6))), verbose=0), probs, atol=1e-6)


def test_tfidf_design_matrix_by_hand():
    model = build_classifier(6, 2, model="bow")
    bag = model.get_layer("bag_of_words")
    docs = np.array([[2, 2, 3, 0], [3, 4, 0, 0]], "int32")
    bag.adapt(docs)
    # two documents: id 2 occurs in one (df 1), id 3 in both (df 2); idf = log((1 + n) / (1 + df)) + 1
    idf2, idf3 = np.log(3 / 2) + 1, np.log(3 / 3) + 1
    row = np.array([0, 0, (1 + np.log(2)) * idf2, idf3, 0, 0])  # id 2 counted twice: tf 1 + log 2
    np.testing.assert_allclose(bag(docs[:1]).numpy()[0], row / np.linalg.norm(row), rtol=1e-5)


def train(run_dir, data, **kw):
    return train_run("classify", run_dir, {"data": str(data), **TINY_CLASSIFY, **kw})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("classify")
    data = write_csv(base / "reviews.csv", labelled_rows(60))
    result = train(base / "run", data, epochs=2)
    return base / "run", data, result


def test_a_classifier_run_folder_is_complete_and_scores_its_test_split(trained):
    run_dir, _, result = trained
    for name in ("config.json", "vocab.json", "split.json", "best.weights.h5", "history.csv", "metrics.json",
                 "confusion.png", "checkpoints/epoch-002.weights.h5"):
        assert (run_dir / name).is_file(), name
    config = json.loads((run_dir / "config.json").read_text())
    assert config["labels"] == ["neg", "pos"] and config["task"] == "classify"
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["test"]) == 6 and not set(split["test"]) & set(split["train"])
    assert set(result.report) >= {"accuracy", "macro_f1", "per_class", "confusion"}
    history = RunDir(str(run_dir)).read_history()
    assert [r["epoch"] for r in history] == ["1", "2"] and "val_accuracy" in history[0]


def test_a_loaded_run_predicts_exactly_as_it_scored(trained):
    run_dir, _, result = trained
    again = evaluate_classifier(str(run_dir))
    assert again["confusion"] == result.report["confusion"] and again["accuracy"] == result.report["accuracy"]
    first = predict(str(run_dir), ["a really superb film", "dull and boring"])
    assert predict(str(run_dir), ["a really superb film", "dull and boring"]) == first
    assert {r["label"] for r in first} <= {"neg", "pos"}
    assert all(abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in first)


def test_resume_continues_exactly(tmp_path, labelled_csv):
    straight = train(tmp_path / "straight", labelled_csv, epochs=3)
    train(tmp_path / "stopped", labelled_csv, epochs=1)
    resumed = train_classifier(str(tmp_path / "stopped"), {"epochs": 3}, resume=True, verbose=0,
                               stream=open(os.devnull, "w"))
    a = RunDir(str(tmp_path / "straight")).read_history()
    b = RunDir(str(tmp_path / "stopped")).read_history()
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b):
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), rel=1e-5)
    assert resumed.report["confusion"] == straight.report["confusion"]
    assert json.loads((tmp_path / "stopped" / "config.json").read_text())["epochs"] == 3


def test_k_fold_cross_validation(tmp_path, labelled_csv):
    result = train(tmp_path / "cv", labelled_csv, folds=3)
    assert len(result.report["folds"]) == 3
    accs = [f["accuracy"] for f in result.report["folds"]]
    assert result.report["accuracy_mean"] == pytest.approx(np.mean(accs))
    assert result.report["accuracy_std"] == pytest.approx(np.std(accs, ddof=1))
    tests = [json.loads((tmp_path / "cv" / f"fold-{k}" / "split.json").read_text())["test"] for k in (1, 2, 3)]
    assert sorted(i for t in tests for i in t) == list(range(48))
    assert evaluate_classifier(str(tmp_path / "cv"))["accuracy_mean"] == result.report["accuracy_mean"]
    assert predict(str(tmp_path / "cv" / "fold-2"), ["great"])[0]["label"] in ("neg", "pos")
    with pytest.raises(UserError, match="3-fold run"):
        predict(str(tmp_path / "cv"), ["great"])


def test_character_and_subword_levels_and_every_model_family_train(tmp_path, labelled_csv):
    for name, options in {"chars": dict(level="char", max_length=40), "pieces": dict(level="subword", max_tokens=300),
                          "bow": dict(model="bow"),
                          "cnn": dict(model="cnn"), "bigru": dict(cell="gru", bidirectional=True, pooling="attention")}.items():
        result = train(tmp_path / name, labelled_csv, **options)
        assert 0.0 <= result.report["accuracy"] <= 1.0
    cfg, vocab, _ = load_classifier_run(str(tmp_path / "chars"))
    assert vocab.level == "char" and "g" in vocab.stoi
    cfg, vocab, _ = load_classifier_run(str(tmp_path / "pieces"))
    assert vocab.level == "subword" and 1 not in vocab.encode("an unseen zzyzx word").tolist()  # spelt, not <unk>
    assert len(predict(str(tmp_path / "pieces"), ["great", "zzyzx"])) == 2


def test_an_unknown_label_at_evaluation_is_a_user_error(trained, tmp_path):
    other = write_csv(tmp_path / "other.csv", [("great film", "pos"), ("meh", "mixed")])
    with pytest.raises(UserError, match="labels the run never saw .*'mixed'"):
        evaluate_classifier(str(trained[0]), data=str(other))


def test_bad_settings_write_nothing(tmp_path, labelled_csv):
    for settings, match in (({"folds": 1}, "--folds 1"), ({"model": "svm"}, "unknown --model"),
                            ({"data": str(tmp_path / "none.csv")}, "not found")):
        with pytest.raises(UserError, match=match):
            train_classifier(str(tmp_path / "run"), {"data": str(labelled_csv), **TINY_CLASSIFY, **settings}, verbose=0)
        assert not (tmp_path / "run").exists()


# --- the command line --------------------------------------------------------------------------
def test_cli_train_evaluate_and_predict(trained, tmp_path, capsys, monkeypatch):
    run_dir = str(trained[0])
    assert main(["classify", "evaluate", "--run-dir", run_dir, "--json", "--confusion", str(tmp_path / "c.png")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"accuracy", "macro_f1", "per_class"} <= set(report) and (tmp_path / "c.png").is_file()
    assert main(["classify", "predict", "--run-dir", run_dir, "superb acting", "awful plot"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[2] == "superb acting"
    (tmp_path / "texts.txt").write_text("great\nweak\n\npoor\n", encoding="utf-8")
    assert main(["classify", "predict", "--run-dir", run_dir, "--file", str(tmp_path / "texts.txt"), "--json"]) == 0
    assert [json.loads(l)["text"] for l in capsys.readouterr().out.splitlines()] == ["great", "weak", "poor"]
    monkeypatch.setattr("sys.stdin", io.StringIO("lovely\n"))
    assert main(["classify", "predict", "--run-dir", run_dir]) == 0
    assert capsys.readouterr().out.endswith("\tlovely\n")


def test_cli_train_with_flags(tmp_path, labelled_csv, capsys):
    assert main(["classify", "train", "--data", str(labelled_csv), "--model", "rnn", "--cell", "gru",
                 "--bidirectional", "--pooling", "mean", "--units", "4", "--embedding-dim", "4", "--epochs", "1",
                 "--batch-size", "8", "--run-dir", str(tmp_path / "run"), "--seed", "1", "--quiet"]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["bidirectional"] is True and config["pooling"] == "mean" and config["lowercase"] is True
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.parametrize("args, match", [
    (["classify", "train", "--data", "{csv}", "--text-column", "body", "--run-dir", "{tmp}/new"], "no column 'body'"),
    (["classify", "train", "--data", "{single}", "--run-dir", "{tmp}/new"], "single class"),
    (["classify", "train", "--run-dir", "{tmp}/new"], "no data given"),
    (["classify", "train", "--data", "{csv}", "--model", "svm"], "invalid choice: 'svm'"),
    (["classify", "evaluate", "--run-dir", "{run}", "--data", "{mixed}"], "never saw"),
    (["classify", "predict", "--run-dir", "{run}", "--file", "{tmp}/missing.txt"], "cannot read --file"),
    (["classify", "predict", "--run-dir", "{tmp}/nothing", "hello"], "not a run folder"),
    (["textgen", "generate", "--run-dir", "{run}"], "not a textgen run"),
])
def test_cli_user_errors_exit_2_with_one_line(trained, tmp_path, capsys, args, match):
    single = write_csv(tmp_path / "single.csv", [(t, "pos") for t, _ in labelled_rows(6)])
    mixed = write_csv(tmp_path / "mixed.csv", [("great", "pos"), ("so so", "mixed")])
    args = [a.format(csv=trained[1], single=single, mixed=mixed, tmp=tmp_path, run=trained[0]) for a in args]
    assert_user_error(args, capsys, match)
    assert not (tmp_path / "new").exists()
