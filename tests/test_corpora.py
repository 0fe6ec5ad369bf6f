import pytest

from rnn_tf.corpora import Document, join_documents, load_corpus, split_documents
from rnn_tf.errors import UserError


def test_text_file_folder_and_glob(corpus_dir):
    folder = load_corpus(str(corpus_dir))
    assert [d.name for d in folder] == sorted(p.name for p in corpus_dir.glob("*.txt"))
    single = load_corpus(str(corpus_dir / "1790-doc.txt"))
    assert single[0].text == folder[0].text
    globbed = load_corpus(str(corpus_dir / "179[12]-*.txt"))
    assert [d.name for d in globbed] == ["1791-doc.txt", "1792-doc.txt"]


def test_missing_corpus_empty_glob_and_bad_encoding(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_corpus(str(tmp_path / "nope.txt"))
    with pytest.raises(UserError, match="matches no files"):
        load_corpus(str(tmp_path / "*.txt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .txt files"):
        load_corpus(str(tmp_path / "empty"))
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(UserError, match=r"is not utf-8 text: byte 3 \(0xe9\)"):
        load_corpus(str(bad))


def test_split_holds_out_whole_documents_at_the_end():
    docs = [Document(str(i), f"doc {i}") for i in range(40)]
    train, val = split_documents(docs, 0.05)
    assert [d.name for d in val] == ["38", "39"]
    assert train == docs[:38]
    assert split_documents(docs[:2], 0.05) == (docs[:1], docs[1:2])
    assert split_documents(docs, 0.0) == (docs, [])


def test_a_single_document_is_split_at_a_line_break():
    text = "".join(f"line {i}\n" for i in range(100))
    train, val = split_documents([Document("one", text)], 0.1)
    assert train[0].text + val[0].text == text
    assert val[0].text.startswith("line ") and 0.05 < len(val[0].text) / len(text) < 0.15


def test_join_documents_separates_with_a_blank_line():
    assert join_documents([Document("a", "x\n"), Document("b", "y")]) == "x\n\ny"


def test_sotu_is_the_default_and_is_chronological():
    docs = load_corpus()
    assert len(docs) > 240
    assert docs[0].name.startswith("1790") and docs[0].text.startswith("Fellow-Citizens")
    assert docs[-1].name > docs[-2].name
    assert sum(len(d.text) for d in docs) > 10_000_000


def test_nltk_corpus_by_name(nltk_data):
    docs = load_corpus("nltk:state_union")
    assert len(docs) == 65 and docs[0].name == "1945-Truman.txt"


def test_nltk_unknown_or_missing_corpus_says_how_to_get_it(monkeypatch, tmp_path):
    with pytest.raises(UserError, match="no corpus called"):
        load_corpus("nltk:no_such_corpus")
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(UserError, match="nltk.downloader gutenberg"):
        load_corpus("nltk:gutenberg")
