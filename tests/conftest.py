"""Shared fixtures: tiny corpora the tests write themselves, and the NLTK data path when present."""

import os
import pathlib
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the token-id cache of fixtures wider than one test (each test gets its own: ``token_cache``)
os.environ["RNN_TF_CACHE"] = tempfile.mkdtemp(prefix="rnn-tf-test-cache-")

SHARED_NLTK = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nltk_data"

# A few lines in the style of the default corpus; the tests repeat them into small documents.
LINES = [
    "Fellow-Citizens of the Senate and House of Representatives:",
    "I embrace with great satisfaction the opportunity which now presents itself.",
    "The welfare of our country is the great object to which our cares and efforts ought to be directed.",
    "Let us unite in the duty of promoting the public good.",
]


def write_corpus(folder: pathlib.Path, n_docs: int = 6, repeats: int = 3) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_docs):
        text = "\n".join(LINES[(i + j) % len(LINES)] for j in range(repeats * len(LINES)))
        (folder / f"{1790 + i}-doc.txt").write_text(text + "\n", encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def token_cache(tmp_path, monkeypatch):
    """Every test its own token-id cache (rnn_tf.token_ids), never the user's."""
    folder = tmp_path / "token-cache"
    monkeypatch.setenv("RNN_TF_CACHE", str(folder))
    return folder


@pytest.fixture
def corpus_dir(tmp_path):
    return write_corpus(tmp_path / "corpus")


@pytest.fixture
def nltk_data():
    """Points NLTK at the shared corpora; skips when they are not on this machine."""
    path = os.environ.get("NLTK_DATA") or (str(SHARED_NLTK) if SHARED_NLTK.is_dir() else None)
    if not path or not os.path.isdir(os.path.join(path, "corpora")):
        pytest.skip("NLTK corpora not available (set NLTK_DATA or run nltk.download)")
    import nltk

    if path not in nltk.data.path:
        nltk.data.path.insert(0, path)
    return path


# Settings for a model that trains in a blink.
TINY = dict(units=8, embedding_dim=4, seq_len=16, batch_size=4, steps_per_epoch=3,
            sample_length=10, temperatures=[0.5, 1.0], seed=7, learning_rate=0.01)


POS_WORDS = ["good", "great", "fine", "lovely", "superb", "moving"]
NEG_WORDS = ["bad", "awful", "poor", "dull", "boring", "weak"]
FILLER = ["the", "film", "was", "a", "plot", "and", "acting", "really", "quite"]


def labelled_rows(n: int = 48, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` short (text, label) pairs whose label is given away by its words: learnable in a step."""
    import random

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.sample(FILLER, 4) + rng.sample(POS_WORDS if label == "pos" else NEG_WORDS, 2)
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path, rows=None, delimiter=",", header=("text", "label")):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows if rows is not None else labelled_rows())
    return path


@pytest.fixture
def labelled_csv(tmp_path):
    return write_csv(tmp_path / "reviews.csv")


# Settings for a classifier that trains in a blink.
TINY_CLASSIFY = dict(units=4, embedding_dim=4, filters=4, batch_size=8, epochs=1, seed=3, max_length=12)


# English-French pairs in the Tatoeba format, small enough to learn in a few steps.
COLOURS = {"red": "rouge", "green": "vert", "blue": "bleu", "black": "noir", "white": "blanc"}
SUBJECTS = {"i am": "je suis", "he is": "il est", "you are": "tu es", "it is": "c'est"}


def write_pairs(path, attribution=False):
    lines = []
    for en_s, fr_s in SUBJECTS.items():
        for en_c, fr_c in COLOURS.items():
            lines.append(f"{en_s.capitalize()} {en_c}.\t{fr_s.capitalize()} {fr_c}\u202f!"
                         + ("\tCC-BY 2.0 (France) Attribution: tatoeba.org" if attribution else ""))
    lines.append("The house is very big and it is red.\tLa maison est très grande et elle est rouge.")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
