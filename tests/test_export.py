"""``rnn-tf export``: SavedModels with string signatures, loaded in a fresh process that cannot import
rnn_tf, give the command line's outputs (token for token for seeded and greedy decoding)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY, TINY_CLASSIFY, labelled_rows, write_corpus, write_csv, write_pairs
from helpers import assert_user_error, exit_code, train_run
from test_tag import TINY_TAG, write_conll

# Loads every export it is given and calls each signature; rnn_tf is made unimportable first.
LOADER = r"""
import json, sys
sys.modules["rnn_tf"] = None
try:
    import rnn_tf
    raise SystemExit("rnn_tf was importable")
except ImportError:
    pass
import tensorflow as tf
import tensorflow_text  # registers SentencePiece's ops, which the subword exports use
calls, out = json.load(open(sys.argv[1])), []
models = {}
for folder, signature, inputs in calls:
    model = models.setdefault(folder, tf.saved_model.load(folder))
    args = {name: tf.constant(value, getattr(tf, dtype)) for name, (value, dtype) in inputs.items()}
    try:
        result = model.signatures[signature](**args)
        out.append({k: getattr(v.numpy(), "tolist", v.numpy)() for k, v in result.items()})
    except tf.errors.InvalidArgumentError as exc:
        out.append({"error": exc.message})
json.dump(out, open(sys.argv[2], "w"), default=lambda b: b.decode("utf-8"))
"""


def cli_out(argv, capsys) -> str:
    assert exit_code(argv) == 0
    return capsys.readouterr().out


def textgen_call(folder, prime, length, temperature, seed, condition=None):
    inputs = {"prime": [prime, "string"], "length": [length, "int32"], "temperature": [temperature, "float32"],
              "seed": [seed, "int64"]}
    if condition is not None:
        inputs["condition"] = [condition, "string"]
    return [str(folder), "serving_default", inputs]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Tiny runs of three tasks, each exported; (calls made in a fresh process, their outputs, the CLI's)."""
    base = tmp_path_factory.mktemp("export")
    corpus = write_corpus(base / "corpus")
    table = base / "letters.csv"
    table.write_text("text,label\n" + "".join(f"{c * (2 + i % 4)},{c}\n" for i in range(30) for c in "ab"))
    runs = {
        "char": ("textgen", {"corpus": str(corpus), **TINY}),
        "word": ("textgen", {"corpus": str(corpus), **TINY, "level": "word"}),
        "lines": ("textgen", {**TINY, "corpus": str(table), "lines": True, "condition_on": "label",
                              "seq_len": 12, "steps_per_epoch": 4, "val_fraction": 0.2}),
        "classify": ("classify", {"data": str(write_csv(base / "reviews.csv", labelled_rows(60))), **TINY_CLASSIFY,
                                  "level": "subword", "max_tokens": 300}),
        "translate": ("translate", {"pairs": str(write_pairs(base / "fra.txt")), "units": 8, "embedding_dim": 6,
                                    "batch_size": 4, "epochs": 2, "seed": 2, "max_words": None}),
        "pieces": ("translate", {"pairs": str(base / "fra.txt"), "units": 8, "embedding_dim": 6, "batch_size": 4,
                                 "epochs": 2, "seed": 2, "max_words": None, "level": "subword", "max_vocab": 300}),
        "tag": ("tag", {"data": str(write_conll(base / "train.conll")), **TINY_TAG, "char_features": True}),
    }
    for name, (task, settings) in runs.items():
        train_run(task, base / name, settings)
        assert exit_code(["export", "--run-dir", str(base / name), "--out", str(base / f"{name}-model")]) == 0
    assert exit_code(["export", "--run-dir", str(base / "char"), "--out", str(base / "plain-model"), "--no-xla"]) == 0
    return base


GENERATE = [  # (run, prime, length, temperature, seed, condition): several chunks of the export's loop, and one
    ("char", "The ", 300, 1.0, 11, None), ("char", "Let us", 5, 0.5, 2, None),
    ("word", "The welfare of", 40, 0.8, 3, None), ("lines", "a", 12, 1.0, 4, "b"), ("lines", "", 12, 1.2, 5, "a")]
TEXTS = ["the film was GOOD and great", "awful, boring plot", "unseen words entirely",
         " ".join(["quite"] * 30 + ["bad"])]  # longer than max_length: cut as the CLI cuts it
SENTENCES = ["I am red.", "You are BLUE !", "He is green \u2019 white."]
TAGGED = ["the cat sat .", "A dog   ran down .", "the unseen-word sang"]


@pytest.fixture(scope="module")
def fresh(exported) -> list[dict]:
    """Every signature called in one fresh process that cannot import rnn_tf: the outputs, in order."""
    b, translator = exported, str(exported / "translate-model")
    calls = [textgen_call(b / f"{run}-model", *rest) for run, *rest in GENERATE] + [
        [str(b / "classify-model"), "serving_default", {"texts": [TEXTS, "string"]}],
        [translator, "serving_default", {"sentences": [SENTENCES, "string"]}],
        [translator, "beam_search", {"sentences": [SENTENCES, "string"], "beam_size": [3, "int32"],
                                     "length_penalty": [0.6, "float32"]}],
        [translator, "serving_default", {"sentences": [["I am red.", "   "], "string"]}],
        textgen_call(b / "plain-model", *GENERATE[0][1:]),
        [str(b / "tag-model"), "serving_default", {"sentences": [TAGGED, "string"]}],
        [str(b / "pieces-model"), "serving_default", {"sentences": [SENTENCES, "string"]}],
        [str(b / "pieces-model"), "beam_search", {"sentences": [SENTENCES, "string"], "beam_size": [3, "int32"],
                                                  "length_penalty": [0.6, "float32"]}],
        [str(b / "pieces-model"), "serving_default", {"sentences": [["I am red.", "   "], "string"]}]]
    (b / "calls.json").write_text(json.dumps(calls))
    done = subprocess.run([sys.executable, "-c", LOADER, str(b / "calls.json"), str(b / "out.json")],
                          capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((b / "out.json").read_text())


def test_exported_generators_draw_the_clis_text(exported, fresh, capsys):
    b = exported
    for (run, prime, length, temperature, seed, condition), got in zip(GENERATE, fresh):
        argv = ["textgen", "generate", "--run-dir", str(b / run), "--prime", prime, "--length", str(length),
                "--temperature", str(temperature), "--seed", str(seed), "--json"]
        sample = json.loads(cli_out(argv + (["--condition", condition] if condition else []), capsys))["samples"][0]
        assert got["text"] == sample["text"], (run, got, sample)
        if run == "lines":
            assert got["ended"] == sample["ended"]
    info = json.loads((b / "lines-model" / "export.json").read_text())
    assert info["task"] == "textgen" and "condition" in info["signatures"]["serving_default"]["inputs"]


def test_exported_classifier_gives_the_clis_probabilities(exported, fresh, capsys):
    got = fresh[len(GENERATE)]
    lines = cli_out(["classify", "predict", "--run-dir", str(exported / "classify"), "--json", *TEXTS], capsys)
    cli = [json.loads(line) for line in lines.splitlines()]
    labels = json.loads((exported / "classify-model" / "export.json").read_text())
    order = list(cli[0]["probabilities"])
    assert order in (["neg", "pos"],) and "neg, pos" in labels["signatures"]["serving_default"]["outputs"]["probabilities"]
    np.testing.assert_allclose(got["probabilities"], [[r["probabilities"][k] for k in order] for r in cli], atol=1e-6)
    assert got["label"] == [r["label"] for r in cli]


def test_exported_translator_gives_the_clis_greedy_and_beam_translations(exported, fresh, capsys):
    greedy, beam, empty = fresh[len(GENERATE) + 1:len(GENERATE) + 4]
    run = ["translate", "translate", "--run-dir", str(exported / "translate"), "--json", *SENTENCES]
    assert greedy["translations"] == [json.loads(l)["translation"] for l in cli_out(run, capsys).splitlines()]
    assert beam["translations"] == [json.loads(l)["translation"] for l in
                                    cli_out(run + ["--beam-size", "3"], capsys).splitlines()]
    assert "empty sentence" in empty["error"]


def test_subword_exports_run_sentencepiece_in_the_graph_as_the_cli_does(exported, fresh, capsys):
    """The classifier above is a subword one; this translator too: its pieces come from TensorFlow Text."""
    greedy, beam, empty = fresh[-3:]
    run = ["translate", "translate", "--run-dir", str(exported / "pieces"), "--json", *SENTENCES]
    assert greedy["translations"] == [json.loads(l)["translation"] for l in cli_out(run, capsys).splitlines()]
    assert beam["translations"] == [json.loads(l)["translation"] for l in
                                    cli_out(run + ["--beam-size", "3"], capsys).splitlines()]
    assert "empty sentence" in empty["error"]
    for name in ("pieces", "classify"):
        assert json.loads((exported / f"{name}-model" / "export.json").read_text())["load"].startswith(
            "import tensorflow_text;")
    assert "tensorflow_text" not in json.loads((exported / "translate-model" / "export.json").read_text())["load"]


def test_export_refuses_to_overwrite_and_replaces_only_when_asked(exported, tmp_path, capsys):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    argv = ["export", "--run-dir", str(exported / "classify"), "--out", str(out)]
    assert_user_error(argv, capsys, "already exists")
    assert (out / "keep.txt").read_text() == "mine"
    assert_user_error(["export", "--run-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "m2")], capsys, "")
    assert not (tmp_path / "m2").exists()
    assert_user_error(["export", "--run-dir", str(exported / "classify"), "--out", str(exported / "classify")],
                      capsys, "already exists")
    assert exit_code([*argv, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "saved_model.pb").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left behind


def test_an_exported_tagger_tags_as_the_cli_does(exported, fresh, capsys):
    got = fresh[len(GENERATE) + 5]
    lines = cli_out(["tag", "predict", "--run-dir", str(exported / "tag"), "--json", *TAGGED], capsys)
    cli = [json.loads(line) for line in lines.splitlines()]
    assert got["lengths"] == [len(r["tokens"]) for r in cli]
    for row_tokens, row_tags, r in zip(got["tokens"], got["tags"], cli):
        n = len(r["tokens"])
        assert row_tokens[:n] == r["tokens"] and row_tags[:n] == r["tags"] and set(row_tags[n:]) <= {""}


def test_a_tagging_baseline_is_not_a_model_to_export(exported, tmp_path, capsys):
    train_run("tag", tmp_path / "baseline", {"data": str(exported / "train.conll"), "model": "most-frequent",
                                             "seed": 3})
    assert_user_error(["export", "--run-dir", str(tmp_path / "baseline"), "--out", str(tmp_path / "m")], capsys,
                      "baseline")
    assert not (tmp_path / "m").exists()


def test_an_export_without_xla_draws_text_for_servers_without_it(exported, fresh):
    info = json.loads((exported / "plain-model" / "export.json").read_text())
    assert info["xla"] is False and json.loads((exported / "char-model" / "export.json").read_text())["xla"] is True
    text = fresh[len(GENERATE) + 4]["text"]
    assert isinstance(text, str) and len(text) == GENERATE[0][2]  # 300 characters of the char-level run
    assert not xla_functions(exported / "plain-model") and xla_functions(exported / "char-model")


def xla_functions(folder) -> list[str]:
    """The functions of a SavedModel that must be compiled with XLA."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((folder / "saved_model.pb").read_bytes())
    return [f.signature.name for g in saved.meta_graphs for f in g.graph_def.library.function
            if "_XlaMustCompile" in f.attr and f.attr["_XlaMustCompile"].b]
