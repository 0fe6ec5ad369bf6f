"""Two baselines for sequence tagging, fitted on the same training sentences as the RNN tagger and
saved as JSON in its run folder (nothing is pickled):

    most-frequent  each word's most frequent tag in training; a word never seen, the most frequent
                   tag overall. What a tagger must beat to have learned anything from context.
    perceptron     NLTK's averaged perceptron tagger (``nltk.tag.perceptron.PerceptronTagger``, the
                   tagger behind ``nltk.pos_tag``), trained from scratch: hand-made features of the word,
                   its suffixes and neighbours, and the two previous tags; 5 passes.

Both read the words as written (``--lowercase`` applies to the RNN's vocabulary only) and ignore
feature columns.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict

from rnn_tf.runs import write_atomic


class MostFrequent:
    def __init__(self, table: dict[str, str], default: str):
        self.table, self.default = table, default

    @classmethod
    def fit(cls, sentences, cfg) -> "MostFrequent":
        counts: dict[str, Counter] = defaultdict(Counter)
        for s in sentences:
            for token, tag in zip(s.tokens, s.tags):
                counts[token][tag] += 1
        overall = Counter(tag for s in sentences for tag in s.tags)
        return cls({w: c.most_common(1)[0][0] for w, c in counts.items()}, overall.most_common(1)[0][0])

    def tag(self, sentences, cfg) -> list[list[str]]:
        return [[self.table.get(t, self.default) for t in s.tokens] for s in sentences]

    def save(self, path: str) -> None:
        write_atomic(path, json.dumps({"model": "most-frequent", "table": self.table, "default": self.default}))

    @classmethod
    def load(cls, path: str) -> "MostFrequent":
        data = _read(path, "most-frequent")
        return cls(data["table"], data["default"])


class Perceptron:
    def __init__(self, tagger):
        self.tagger = tagger

    @classmethod
    def fit(cls, sentences, cfg) -> "Perceptron":
        from nltk.tag.perceptron import PerceptronTagger

        tagger = PerceptronTagger(load=False)
        random.seed(cfg.seed)  # NLTK shuffles the sentences between passes with the global generator
        tagger.train([list(zip(s.tokens, s.tags)) for s in sentences], nr_iter=5)
        return cls(tagger)

    def tag(self, sentences, cfg) -> list[list[str]]:
        return [[tag for _, tag in self.tagger.tag(list(s.tokens))] for s in sentences]

    def save(self, path: str) -> None:
        t = self.tagger
        write_atomic(path, json.dumps({"model": "perceptron", "weights": t.model.weights, "tagdict": t.tagdict,
                                       "classes": sorted(t.classes)}))

    @classmethod
    def load(cls, path: str) -> "Perceptron":
        from nltk.tag.perceptron import PerceptronTagger

        data = _read(path, "perceptron")
        tagger = PerceptronTagger(load=False)
        tagger.model.weights, tagger.tagdict = data["weights"], data["tagdict"]
        tagger.classes = tagger.model.classes = set(data["classes"])
        return cls(tagger)


def _read(path: str, model: str) -> dict:
    from rnn_tf.errors import UserError
    from rnn_tf.runs import damaged

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise UserError(f"'{path}' is missing: the baseline run is incomplete; train it again with --overwrite") from None
    except ValueError as exc:
        raise UserError(damaged(path, str(exc)[:80])) from None
    if not isinstance(data, dict) or data.get("model") != model:
        raise UserError(damaged(path, f"not a {model} baseline"))
    return data


BASELINES = {"most-frequent": MostFrequent, "perceptron": Perceptron}
