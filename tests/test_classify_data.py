import json

import numpy as np
import pytest

from conftest import labelled_rows, write_csv
from rnn_tf.labelled import load_labelled, stratified_folds, stratified_split
from rnn_tf.errors import UserError
from rnn_tf.metrics import classification_report, save_confusion_png


def test_csv_and_tsv_with_named_columns(tmp_path):
    rows = labelled_rows(10)
    data = load_labelled(str(write_csv(tmp_path / "a.csv", rows)))
    assert [(e.text, e.label) for e in data.examples] == rows and data.test is None
    tsv = write_csv(tmp_path / "a.tsv", [(l, t) for t, l in rows], "\t", ("sentiment", "review"))
    data = load_labelled(str(tsv), text_column="review", label_column="sentiment")
    assert [(e.text, e.label) for e in data.examples] == rows


def test_folder_per_class_and_the_aclimdb_layout(tmp_path):
    for part in ("train", "test"):
        for label in ("neg", "pos"):
            (tmp_path / "acl" / part / label).mkdir(parents=True)
            for i in range(3):
                (tmp_path / "acl" / part / label / f"{i}_7.txt").write_text(f"{label} {part} {i}", encoding="utf-8")
    (tmp_path / "acl" / "train" / "unsup").mkdir()
    (tmp_path / "acl" / "train" / "unsup" / "0_0.txt").write_text("unlabelled", encoding="utf-8")
    data = load_labelled(str(tmp_path / "acl"))
    assert len(data.examples) == 6 and len(data.test) == 6
    assert {e.label for e in data.examples} == {"neg", "pos"}
    flat = load_labelled(str(tmp_path / "acl" / "test"))
    assert flat.test is None and sorted(e.text for e in flat.examples)[0] == "neg test 0"


def test_keras_imdb_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(UserError, match="not in the local cache"):
        load_labelled("keras:imdb")
    cache = tmp_path / "datasets"
    cache.mkdir()
    (cache / "imdb_word_index.json").write_text(json.dumps({"great": 1, "awful": 2, "film": 3}))
    x = np.array([[1, 4, 6], [1, 5, 6]], dtype=object)  # 1 = start; ids are the index + 3
    np.savez(cache / "imdb.npz", x_train=x, y_train=np.array([1, 0]), x_test=x, y_test=np.array([1, 0]))
    data = load_labelled("keras:imdb")
    assert [(e.text, e.label) for e in data.examples] == [("great film", "pos"), ("awful film", "neg")]


def test_nltk_categorized_corpora(nltk_data):
    reviews = load_labelled("nltk:movie_reviews")
    assert len(reviews.examples) == 2000 and {e.label for e in reviews.examples} == {"neg", "pos"}
    names = load_labelled("nltk:names")
    assert {e.label for e in names.examples} == {"female", "male"}
    assert len(load_labelled("nltk:sentence_polarity").examples) == 10662
    with pytest.raises(UserError, match="not a categorized corpus"):
        load_labelled("nltk:treebank")


@pytest.mark.parametrize("rows, kwargs, match", [
    (labelled_rows(6), {"text_column": "review"}, "no column 'review'"),
    (labelled_rows(6), {"label_column": "stars"}, "--label-column"),
    ([(t, "pos") for t, _ in labelled_rows(6)], {}, "single class"),
    (labelled_rows(4) + [("  ", "pos")], {}, "example 5 .* empty text"),
])
def test_bad_tables_are_user_errors(tmp_path, rows, kwargs, match):
    with pytest.raises(UserError, match=match):
        load_labelled(str(write_csv(tmp_path / "bad.csv", rows)), **kwargs)


def test_missing_data_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_labelled(str(tmp_path / "nope.csv"))


def test_stratified_split_is_seeded_and_keeps_the_class_balance():
    labels = ["a"] * 60 + ["b"] * 30 + ["c"] * 10
    test, val, train = stratified_split(labels, (0.1, 0.2), seed=4)
    assert stratified_split(labels, (0.1, 0.2), seed=4) == [test, val, train]
    assert stratified_split(labels, (0.1, 0.2), seed=5) != [test, val, train]
    assert sorted(test + val + train) == list(range(100))
    assert [labels[i] for i in test].count("a") == 6 and [labels[i] for i in test].count("c") == 1
    assert [labels[i] for i in val].count("b") == 6


def test_folds_are_disjoint_cover_everything_and_are_stratified():
    labels = ["a"] * 12 + ["b"] * 6
    folds = stratified_folds(labels, 3, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(18))
    assert all([labels[i] for i in f].count("a") == 4 and [labels[i] for i in f].count("b") == 2 for f in folds)


def test_classification_report_by_hand(tmp_path):
    report = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["x", "y", "z"])
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_class"]["x"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                                        "support": 3}
    assert report["per_class"]["z"]["precision"] == 0.5 and report["per_class"]["z"]["recall"] == 1.0
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    save_confusion_png(str(tmp_path / "c.png"), report["confusion"], ["x", "y", "z"])
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
