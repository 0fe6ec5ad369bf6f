"""Loading tagged sentences: CoNLL-style column files and folders, NLTK's treebank and CoNLL-2000, and
the one-line errors for bad input."""

import re

import pytest

from rnn_tf.errors import UserError
from rnn_tf.tagged import TaggedData, TaggedSentence, load_tagged

# CoNLL-2003 style: word, POS, chunk, NER; a -DOCSTART- line with its blank line, tabs in one sentence.
CONLL03 = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter\tNNP\tB-NP\tB-PER
Blackburn\tNNP\tI-NP\tI-PER


-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def write(path, text, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return str(path)


def test_column_file_with_tabs_spaces_blank_lines_and_docstart(tmp_path):
    data = load_tagged(write(tmp_path / "ner.txt", CONLL03))
    assert isinstance(data, TaggedData) and data.test is None and data.source.endswith("ner.txt")
    assert [s.tokens for s in data.sentences] == [
        ("EU", "rejects", "German", "call", "."), ("Peter", "Blackburn"), ("BRUSSELS",)]
    assert data.sentences[0].tags == ("B-ORG", "O", "B-MISC", "O", "O")
    assert data.sentences[1] == TaggedSentence(("Peter", "Blackburn"), ("B-PER", "I-PER"))
    assert all(s.features == () for s in data.sentences)


def test_feature_and_negative_columns(tmp_path):
    path = write(tmp_path / "ner.txt", CONLL03)
    data = load_tagged(path, tag_column=2, feature_columns=(1, -1))
    first = data.sentences[0]
    assert first.tags == ("B-NP", "B-VP", "B-NP", "I-NP", "O")
    assert first.features == (("NNP", "VBZ", "JJ", "NN", "."), ("B-ORG", "O", "B-MISC", "O", "O"))
    same = load_tagged(path, token_column=-4, tag_column=-2, feature_columns=[-3, 3])
    assert same.sentences == data.sentences
    pos = load_tagged(path, tag_column=1)
    assert pos.sentences[1].tags == ("NNP", "NNP")


def test_windows_line_ends_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes("\ufeffLe DET\r\nchat NOUN\r\n\r\ndort VERB\r\n".encode("utf-8"))
    data = load_tagged(str(path))
    assert [(s.tokens, s.tags) for s in data.sentences] == [(("Le", "chat"), ("DET", "NOUN")),
                                                           (("dort",), ("VERB",))]


def test_folder_with_train_and_test(tmp_path):
    folder = tmp_path / "conll"
    folder.mkdir()
    write(folder / "train.txt", CONLL03)
    data = load_tagged(str(folder))
    assert len(data.sentences) == 3 and data.test is None and data.source.endswith("(train.txt)")
    write(folder / "test.txt", "Japan NNP B-NP B-LOC\nwins VBZ B-VP O\n")
    data = load_tagged(str(folder), feature_columns=(1,))
    assert len(data.sentences) == 3 and data.source.endswith("(train.txt / test.txt)")
    assert data.test == [TaggedSentence(("Japan", "wins"), ("B-LOC", "O"), (("NNP", "VBZ"),))]


def error(message):
    """A ``match`` for the whole one-line message."""
    return "^" + re.escape(message) + "$"


def test_too_few_columns_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "x.txt", "a DT\nb NN\n")
    with pytest.raises(UserError, match=error(f"'{path}' line 1 has 2 columns; --tag-column 3 needs at least 4")):
        load_tagged(path, tag_column=3)
    with pytest.raises(UserError, match=error(f"'{path}' line 1 has 2 columns; --feature-columns -3 needs "
                                              "at least 3")):
        load_tagged(path, feature_columns=(-3,))
    ragged = write(tmp_path / "ragged.txt", "The DT B-NP\ncat NN I-NP\n\nsat VBD\n")
    with pytest.raises(UserError, match=error(f"'{ragged}' line 4 has 2 columns; --tag-column 2 needs at least 3")):
        load_tagged(ragged, tag_column=2)


def test_a_row_of_another_width_names_its_line(tmp_path):
    path = write(tmp_path / "x.txt", "The DT B-NP\ncat NN I-NP\n\nsat VBD\n")
    with pytest.raises(UserError, match=error(f"'{path}' line 4 has 2 columns but line 1 has 3: give every "
                                              "token line the same columns")):
        load_tagged(path)


def test_test_file_must_have_the_train_files_columns(tmp_path):
    write(tmp_path / "train.txt", "The DT B-NP\n")
    write(tmp_path / "test.txt", "The DT\n")
    with pytest.raises(UserError, match="has 2 columns but .*train.txt' has 3: give both files the same columns"):
        load_tagged(str(tmp_path))


@pytest.mark.parametrize("kwargs, message", [
    ({"tag_column": 0}, "--token-column and --tag-column both pick column 0 of '{}' line 1: give them "
                        "different columns"),
    ({"token_column": 1, "tag_column": -2}, "--token-column and --tag-column both pick column 1 of '{}' "
                                            "line 1: give them different columns"),
    ({"feature_columns": (2,)}, "--feature-columns includes the tag column (2) of '{}' line 1: a feature "
                                "cannot be the answer"),
    ({"tag_column": "2"}, "--tag-column '2' is not a column number: give a whole number (0 is the first "
                          "column, -1 the last)"),
])
def test_bad_column_choices(tmp_path, kwargs, message):
    path = write(tmp_path / "x.txt", "The DT B-NP\n")
    with pytest.raises(UserError, match=error(message.format(path))):
        load_tagged(path, **kwargs)


def test_empty_files_and_files_without_sentences(tmp_path):
    empty = write(tmp_path / "empty.txt", "\n  \n")
    with pytest.raises(UserError, match=error(f"'{empty}' is empty: it needs one token per line, with its tag "
                                              "in a column, and a blank line between sentences")):
        load_tagged(empty)
    docstart = write(tmp_path / "docstart.txt", "-DOCSTART- -X- O\n\n-DOCSTART- -X- O\n\n")
    with pytest.raises(UserError, match=error(f"'{docstart}' holds no sentences (only blank or -DOCSTART- "
                                              "lines): it needs one token per line and a blank line between "
                                              "sentences")):
        load_tagged(docstart)


def test_not_utf8_names_the_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("Le DET\ncaf\u00e9 NOUN\n".encode("latin-1"))
    with pytest.raises(UserError, match=error(f"'{path}' is not UTF-8 text (byte 0xe9 at offset 10, line 2): "
                                              "convert it to UTF-8")):
        load_tagged(str(path))


def test_missing_and_unknown_specs(tmp_path):
    forms = "a CoNLL-style column file, a folder with train.txt (and test.txt), nltk:treebank or nltk:conll2000"
    missing = str(tmp_path / "nope.txt")
    with pytest.raises(UserError, match=error(f"data '{missing}' not found: give {forms}")):
        load_tagged(missing)
    with pytest.raises(UserError, match=error(f"no data given: pass --data with {forms}")):
        load_tagged("  ")
    with pytest.raises(UserError, match=error("'nltk:brown' is not a tagged corpus this reads: use "
                                              "nltk:treebank or nltk:conll2000")):
        load_tagged("nltk:brown")
    with pytest.raises(UserError, match=error(f"folder '{tmp_path}' has no train.txt: put the training "
                                              f"sentences in {tmp_path / 'train.txt'} (and optionally the "
                                              "test sentences in test.txt)")):
        load_tagged(str(tmp_path))


@pytest.mark.parametrize("name", ["treebank", "conll2000"])
def test_a_missing_nltk_corpus_says_how_to_download_it(tmp_path, monkeypatch, name):
    import nltk.corpus
    from nltk.corpus.util import LazyCorpusLoader

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # nowhere holds the corpus
    monkeypatch.setattr(nltk.corpus, name, LazyCorpusLoader(name, nltk.corpus.reader.ConllChunkCorpusReader,
                                                            r".*\.txt"))
    with pytest.raises(UserError, match=error(
            f"NLTK corpus '{name}' is not installed: run python -c \"import nltk; nltk.download('{name}')\" "
            "(or set NLTK_DATA to the folder that holds corpora/)")):
        load_tagged(f"nltk:{name}")


def test_nltk_treebank(nltk_data):
    data = load_tagged("nltk:treebank")
    assert len(data.sentences) == 3914 and data.test is None and data.source == "nltk:treebank"
    assert all(len(s.tokens) == len(s.tags) > 0 for s in data.sentences)
    first = data.sentences[0]
    assert first.tokens[:3] == ("Pierre", "Vinken", ",") and first.tags[:3] == ("NNP", "NNP", ",")
    assert "-NONE-" in {t for s in data.sentences for t in s.tags}  # trace tokens are kept
    with pytest.raises(UserError, match=re.escape("nltk:treebank (columns 0 word, 1 POS tag) has 2 columns; "
                                                  "--tag-column 2 needs at least 3")):
        load_tagged("nltk:treebank", tag_column=2)


def test_nltk_conll2000_with_pos_features(nltk_data):
    data = load_tagged("nltk:conll2000", feature_columns=(1,))
    assert len(data.sentences) == 8936 and len(data.test) == 2012
    assert data.source == "nltk:conll2000 (train.txt / test.txt)"
    first = data.sentences[0]
    assert first.tokens[:3] == ("Confidence", "in", "the")
    assert first.tags[:3] == ("B-NP", "B-PP", "B-NP") and first.features == (first.features[0],)
    assert first.features[0][:3] == ("NN", "IN", "DT")
    for s in data.sentences + data.test:
        assert len(s.tokens) == len(s.tags) == len(s.features[0]) > 0
    tags = {t for s in data.sentences for t in s.tags}
    assert {"B-NP", "I-NP", "O"} <= tags and all(t == "O" or t[:2] in ("B-", "I-") for t in tags)
