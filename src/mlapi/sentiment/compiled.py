"""The sentiment pipeline compiled for serving: ``model.score``'s numbers without scikit-learn's per-call overhead.

An optional accelerator, never a gate: ``model.py`` predicts and explains with the pipeline
itself for any settings, and uses this module only for a model whose settings it reproduces
(``unsupported`` names the others) and whose probe texts it scores as ``model.score`` does, to
1e-9. That is decided once, when the model is fitted or loaded.

The fitted pipeline (word and character TF-IDF side by side, then multinomial logistic
regression) is a vocabulary lookup, a weighted count and a sparse dot product. scikit-learn
spends most of a one-text call on input checks, joblib and output wrappers around that
(``bench/profile.py``), so prediction here does the arithmetic directly with numpy,
from the vectorisers' own vocabularies, analyser and idf, and the classifier's own weights.

Both blocks are analysed word by word: a whitespace-separated word yields the same tokens
and character n-grams alone as inside its text (``token_pattern`` never spans white space,
``char_wb`` pads each word on its own); only a bigram of the last token of one word and the
first of the next crosses words. So each word's pieces are remembered (up to
MAX_CACHED_WORDS words per process, then forgotten all at once) and one analysis serves both
the prediction and the explanation.

A batch is scored with numpy over all its texts at once. One text (most requests) is scored
by a small C kernel (``_kernel.pyx``) from its words' feature ids: inside a request, each numpy
call on a small array costs several times what it costs in a loop, since its code has left the
CPU's caches, and a text would need about 40 of them. Where the kernel could not be built (no
C compiler when installing), one text takes the numpy path too: the same numbers, slower.
"""
from __future__ import annotations

import re
from array import array
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from mlapi.sentiment.model import Scored, term_of

try:
    from mlapi.sentiment._kernel import Kernel
except ImportError:  # installed without a C compiler: see the module's docstring
    Kernel = None

MAX_CACHED_WORDS = 50_000
TOKEN_PATTERN = TfidfVectorizer().token_pattern  # a word of 2+ word characters: never spans white space


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)``, with a stable sort: keys come in runs, one per text."""
    order = keys.argsort(kind="stable")
    ordered = keys[order]
    starts = np.empty(len(keys), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = starts.cumsum() - 1
    return ordered[starts], inverse


@dataclass(frozen=True, slots=True)
class WordParts:
    """What one lower-cased word contributes, whatever text it is in."""

    term: str
    first: str | None  # its first and last word-block tokens (None: it has none), for bigrams across words
    last: str | None
    ids: array  # feature id (int64) of each in-vocabulary occurrence wholly inside the word


def unsupported(pipeline: Pipeline) -> list[str]:
    """What in a fitted ``pipeline`` this module does not reproduce; empty when it can be compiled.

    It reproduces a word TfidfVectorizer (1-2-grams of the default tokens) beside a char_wb one,
    both lower-casing with sublinear TF, IDF and l2 norms in float64, then a logistic regression
    over three classes or more (a softmax).
    """
    if len(pipeline.steps) != 2 or not isinstance(pipeline[0], FeatureUnion):
        return ["a pipeline other than a feature union and a classifier"]
    vectorizers = [vectorizer for _, vectorizer in pipeline[0].transformer_list]
    if len(vectorizers) != 2 or any(type(vectorizer) is not TfidfVectorizer for vectorizer in vectorizers):
        return ["features other than two TfidfVectorizers"]
    same = {"input": "content", "lowercase": True, "strip_accents": None, "preprocessor": None, "binary": False,
            "norm": "l2", "use_idf": True, "sublinear_tf": True, "dtype": np.float64}
    wanted = {"word": {**same, "analyzer": "word", "tokenizer": None, "token_pattern": TOKEN_PATTERN,
                       "stop_words": None, "ngram_range": (1, 2)},
              "char": {**same, "analyzer": "char_wb"}}
    refused = [f"{block} {name}={getattr(vectorizer, name)!r}"
               for (block, settings), vectorizer in zip(wanted.items(), vectorizers, strict=True)
               for name, value in settings.items() if getattr(vectorizer, name) != value]
    if pipeline[0].transformer_weights:
        refused.append("transformer_weights")
    classifier = pipeline[-1]
    if type(classifier) is not LogisticRegression:
        refused.append(f"a {type(classifier).__name__} classifier")
    elif len(classifier.classes_) < 3:
        refused.append("two classes (a sigmoid, not a softmax)")
    elif getattr(classifier, "multi_class", "auto") == "ovr" or classifier.solver == "liblinear":
        refused.append("one-vs-rest probabilities")
    return refused


class CompiledSentiment:
    """Prediction and explanation for a fitted sentiment pipeline: numpy for batches, C for one text."""

    def __init__(self, pipeline: Pipeline, centred_coef: np.ndarray) -> None:
        """:raises ValueError: ``unsupported`` names something in ``pipeline``."""
        refused = unsupported(pipeline)
        if refused:
            raise ValueError(f"cannot compile this sentiment pipeline: {'; '.join(refused)}")
        word, char = (vectorizer for _, vectorizer in pipeline[0].transformer_list)
        classifier = pipeline[-1]
        self.word_vocabulary: dict[str, int] = word.vocabulary_
        self.char_vocabulary: dict[str, int] = char.vocabulary_
        self.char_offset = len(word.vocabulary_)
        self.tokens = re.compile(word.token_pattern)
        self.char_grams = char.build_analyzer()
        self.idf = np.concatenate([word.idf_, char.idf_])
        self.coef = np.ascontiguousarray(classifier.coef_)
        self.intercept = classifier.intercept_
        self.centred_coef = centred_coef
        self.n_features = len(self.idf)
        self.words: dict[str, WordParts] = {}
        self.kernel = None if Kernel is None else Kernel(
            self.idf, self.coef, centred_coef, self.intercept, self.char_offset)

    def parts(self, word: str) -> WordParts:
        """The pieces of one lower-cased word, remembered: tokens, bigrams inside it, character n-grams."""
        known = self.words.get(word)
        if known is not None:
            return known
        tokens = self.tokens.findall(word)
        grams = [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))]
        word_ids = [self.word_vocabulary.get(gram) for gram in grams]
        char_ids = [self.char_offset + i if i is not None else None
                    for i in map(self.char_vocabulary.get, self.char_grams(word))]
        known = WordParts(
            term=term_of(word),
            first=tokens[0] if tokens else None,
            last=tokens[-1] if tokens else None,
            ids=array("q", [i for i in word_ids + char_ids if i is not None]),
        )
        if len(self.words) >= MAX_CACHED_WORDS:
            self.words.clear()
        self.words[word] = known
        return known

    def occurrences(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[str]], list[int]]:
        """Every in-vocabulary feature occurrence: feature id, owning word (batch-wide index), share.

        A word bigram across two words is split half to each; every other feature
        belongs to one word. Also returns each text's terms and its number of words.
        """
        ids: list[array] = []
        id_counts: list[int] = []
        across: list[int] = []  # bigrams across words: feature, first word, second word
        terms: list[list[str]] = []
        word_counts: list[int] = []
        owner = 0
        for text in texts:
            words = [self.parts(word) for word in text.lower().split()]
            for feature, left, right in self.bigrams_across(words):
                across += (feature, owner + left, owner + right)
            for parts in words:
                ids.append(parts.ids)
                id_counts.append(len(parts.ids))
            owner += len(words)
            terms.append([parts.term for parts in words])
            word_counts.append(len(words))
        bigrams = np.asarray(across, dtype=np.int64).reshape(-1, 3)
        inside = np.frombuffer(b"".join(ids), dtype=np.int64)  # one copy of the words' int64 ids
        features = np.concatenate([inside, bigrams[:, 0], bigrams[:, 0]])
        owners = np.concatenate([np.arange(owner).repeat(id_counts), bigrams[:, 1], bigrams[:, 2]])
        shares = np.ones(len(features))
        shares[len(features) - 2 * len(bigrams):] = 0.5
        return features, owners, shares, terms, word_counts

    def score(self, texts: list[str]) -> Scored:
        """Probabilities as ``pipeline.predict_proba(texts)``, with each word's share of the winner's score."""
        if len(texts) == 1 and self.kernel is not None:
            return self.score_one(texts[0])
        n = len(texts)
        features, owners, shares, terms, word_counts = self.occurrences(texts)
        text_of_word = np.repeat(np.arange(n), word_counts)
        # TF-IDF: count each (text, feature), weight it, then l2-normalise each text's word and char blocks.
        pairs, pair_of = unique_inverse(text_of_word[owners] * self.n_features + features)
        counts = np.bincount(pair_of, weights=shares, minlength=len(pairs))
        text, feature = np.divmod(pairs, self.n_features)
        is_char = (feature >= self.char_offset).astype(np.int64)
        values = (np.log(counts) + 1) * self.idf[feature]  # sublinear TF, then IDF
        block = 2 * text + is_char
        values /= np.sqrt(np.bincount(block, weights=values * values, minlength=2 * n))[block]
        # The classifier: a sparse dot product, then softmax.
        logits = self.intercept + np.stack(
            [np.bincount(text, weights=values * weights[feature], minlength=n) for weights in self.coef], axis=1
        )
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
        winners = probabilities.argmax(axis=1)
        # Each occurrence's share of its feature's push on the winner, summed per word.
        pushes = values * self.centred_coef[winners[text], feature]
        per_word = np.bincount(owners, weights=pushes[pair_of] * shares / counts[pair_of], minlength=len(text_of_word))
        word_weights = np.split(per_word, np.cumsum(word_counts)[:-1])
        return Scored(probabilities.tolist(), winners.tolist(), terms, [weights.tolist() for weights in word_weights])

    def score_one(self, text: str) -> Scored:
        """:meth:`score` of one text (most requests), by the C kernel from its words' remembered feature ids."""
        known = self.words.get
        words = [known(word) or self.parts(word) for word in text.lower().split()]
        probabilities, winner, weights = self.kernel.score([parts.ids for parts in words], self.bigrams_across(words))
        return Scored([probabilities], [winner], [[parts.term for parts in words]], [weights])

    def bigrams_across(self, words: list[WordParts]) -> list[tuple[int, int, int]]:
        """The in-vocabulary bigrams of one word's last token and the next word's first: feature, words."""
        across = []
        last: tuple[str, int] | None = None
        for index, parts in enumerate(words):
            if parts.first is not None:
                if last is not None and (bigram := self.word_vocabulary.get(f"{last[0]} {parts.first}")) is not None:
                    across.append((bigram, last[1], index))
                last = (parts.last, index)
        return across
