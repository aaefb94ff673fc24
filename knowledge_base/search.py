"""Search the help centre and decide: answer, clarify or decline.

Three signals score each candidate article (docs/knowledge-base.md has the
measurements behind them):

- **dense**: the article's best unit cosine (title, alternative questions, body;
  any language), from the sentence-embedding model, less what a best of that many
  units gains by chance (``best_of_n.py``), so that an article with many phrasings
  does not win on their number;
- **centroid**: the cosine with the mean vector of the article's title and
  questions, best over its translations;
- **lexical**: TF-IDF cosine over character n-grams of normalised text, against
  the article's translation in the question's language.

Fused score = (w_dense·dense + w_centroid·centroid + w_lexical·(lexical − median))
/ (w_dense + w_centroid + w_lexical), at most 1, where the median is taken over the candidates that have
a translation in the question's language. Lexical is thus a bonus or a penalty
relative to the typical candidate, and an article with no translation in that
language (which cannot share its script) gets a neutral term instead of a
penalty, so cross-lingual answers stay possible. Within one language this ranks
exactly as the plain weighted sum does. The decision compares the best fused
score, and its lead over the runner-up, with calibrated thresholds.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from threadpoolctl import ThreadpoolController

from knowledge_base.articles import Article, ArticleSet
from knowledge_base.best_of_n import BestOfN, estimate
from knowledge_base.embeddings import Embedder
from knowledge_base.index import VectorIndex
from knowledge_base.text import detect_language

log = logging.getLogger(__name__)

Decision = Literal["answer", "clarify", "decline"]


@dataclass(frozen=True)
class Weights:
    """How much each signal counts in the fused score."""

    dense: float = 1.0
    centroid: float = 0.5
    lexical: float = 0.3


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs on the fused score.

    answer:  the best article scores at least ``answer`` and leads the runner-up
             by at least ``margin``;
    clarify: the best article scores at least ``clarify``;
    decline: otherwise.
    """

    answer: float = 0.75
    clarify: float = 0.74
    margin: float = 0.005


@dataclass(frozen=True)
class Hit:
    """One candidate article, shown in the customer's language when it exists."""

    key: str
    lang: str
    title: str
    body: str
    score: float
    matched: str  # the unit text that matched best
    matched_lang: str
    signals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    query: str
    lang: str | None
    decision: Decision
    hits: list[Hit] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


@functools.cache
def _single_threaded_numpy_blas() -> None:
    """Run NumPy's matrix products on one thread (once per process).

    A search's products are small (one question against at most some thousands of
    rows). With OpenBLAS's default of a thread per core, its workers keep spinning
    after each product and take the second core from the question encoder, which then
    runs about half as fast (docs/benchmarks.md, third session). Only
    OpenBLAS is limited (NumPy's, and FAISS's, whose flat indexes are only filled and
    read here); PyTorch's fine-tuning and batch encoding keep their threads.
    """
    ThreadpoolController().select(internal_api="openblas").limit(limits=1)


@contextlib.contextmanager
def _directory_lock(index_dir: Path) -> Iterator[None]:
    """Serialise saving and loading between the workers that share ``index_dir``."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_stamp(model_name: str, articles: ArticleSet) -> str:
    """A version stamp: changes when the model or any indexed text changes."""
    digest = hashlib.sha256(model_name.encode())
    for fp in sorted(a.fingerprint() for a in articles):
        digest.update(fp.encode())
    return digest.hexdigest()[:20]


class KnowledgeBase:
    """Articles, their indexes and the decision rule, kept in one process.

    The FastAPI app holds one instance; the custom actions mounted in the same
    process call :meth:`search` directly, and editors' changes go through
    :meth:`upsert` and :meth:`remove`, which touch only the article concerned.
    """

    # Candidates come from the nearest centroids and the best lexical matches; every
    # candidate's units are then scored exactly. Candidates from the nearest units as
    # well would cost a scan of every unit vector for no better ranking
    # (docs/knowledge-base.md, "The pipeline"; docs/benchmarks.md).
    CANDIDATE_CENTROIDS = 32
    CANDIDATE_LEXICAL = 16

    def __init__(
        self,
        embedder: Embedder,
        thresholds: Thresholds | None = None,
        weights: Weights | None = None,
        correct_best_of_n: bool = True,
    ) -> None:
        _single_threaded_numpy_blas()
        self.embedder = embedder
        self.thresholds = thresholds or Thresholds()
        self.weights = weights or Weights()
        self.articles = ArticleSet()
        self.index = VectorIndex(embedder.dimension)
        # measured on the units; re-measured when edits settle (``compact``), not at each edit
        self.correct_best_of_n = correct_best_of_n
        self.best_of_n = BestOfN()
        self._units_changed = False
        # searches and edits arrive on worker threads; the indexes are not thread-safe
        self.lock = threading.RLock()

    # -- building -----------------------------------------------------------------
    def stamp_for(self, articles: ArticleSet) -> str:
        return index_stamp(self.embedder.name, articles)

    def load(self, articles: ArticleSet, index_dir: Path | None = None, progress: bool = False) -> bool:
        """Use the saved index when its stamp matches ``articles``, else rebuild it.

        Returns True when the index was rebuilt.
        """
        self.articles = articles
        stamp = self.stamp_for(articles)
        if index_dir is not None:
            with _directory_lock(index_dir):
                saved = None
                if VectorIndex.saved_stamp(index_dir) == (stamp, self.embedder.name):
                    saved = VectorIndex.load(index_dir, {(a.key, a.lang): a for a in articles})
            if saved is not None:
                self.index = saved[0]
                self.index.lexical.compact()  # weighed now rather than at the first customer's question
                self.measure_best_of_n()
                return False
            log.info("index at %s is missing or stale; rebuilding %d translations", index_dir, len(articles))
        self.index = VectorIndex(self.embedder.dimension)
        self.index.add_articles(list(articles), self.embedder, progress=progress)
        self.index.lexical.compact()
        self.measure_best_of_n()
        if index_dir is not None:
            with _directory_lock(index_dir):
                self.index.save(index_dir, stamp, self.embedder.name)
        return True

    def upsert(self, article: Article) -> None:
        """Make one translation searchable (new or changed), without a rebuild."""
        with self.lock:
            self.index.add_articles([article], self.embedder)
            self.articles.add(article)
            self._units_changed = True

    def remove(self, key: str, lang: str | None = None) -> None:
        """Stop finding one translation (or every translation of ``key``)."""
        with self.lock:
            self.index.remove_article(key, lang)
            self.articles.discard(key, lang)
            self._units_changed = True

    def sync(self, live: ArticleSet) -> int:
        """Make the index hold exactly ``live``, touching only what differs; returns translations changed.

        This is how a worker catches up with changes made elsewhere (another worker
        whose event it missed, or ``python -m webhook import-articles``).
        """
        with self.lock:
            have = {(a.key, a.lang): a.fingerprint() for a in self.articles}
            changed = [a for a in live if have.get((a.key, a.lang)) != a.fingerprint()]
            wanted = {(a.key, a.lang) for a in live}
            gone = [pair for pair in have if pair not in wanted]
            for key, lang in gone:
                self.index.remove_article(key, lang)
                self.articles.discard(key, lang)
            if changed:
                self.index.add_articles(changed, self.embedder)
                for article in changed:
                    self.articles.add(article)
            self._units_changed = self._units_changed or bool(changed or gone)
            return len(changed) + len(gone)

    def compact(self) -> bool:
        """Fold the edits since the last compaction into the lexical index's base (see ``lexical.py``).

        An edit is searchable at once without this; compacting restores exact IDF
        weights, and the best-of-n statistics are measured again if units changed. The
        service calls it when edits settle. Returns whether there was work.
        """
        with self.lock:
            measured = self._units_changed
            if measured:
                self.measure_best_of_n()
            return self.index.lexical.compact() or measured

    def measure_best_of_n(self) -> None:
        """Measure how much a best-of-n unit cosine gains by chance in this help centre (``best_of_n.py``)."""
        with self.lock:
            index = self.index
            articles = [list(langs.values()) for langs in index.by_article.values() if langs]
            counts = [sum(len(index.translations[t].unit_ids) for t in tids) for tids in articles]

            def vectors(i: int) -> np.ndarray:
                return np.concatenate([index.translations[t].vectors for t in articles[i]])

            self.best_of_n = estimate(counts, vectors) if self.correct_best_of_n else BestOfN()
            self._units_changed = False

    def adopt(self, other: KnowledgeBase) -> None:
        """Take ``other``'s model and index (built aside, e.g. with a fine-tuned model) in one step.

        ``other`` was built from a snapshot; edits made since then are applied to it
        first, under this knowledge base's lock, so none is lost in the swap.
        """
        with self.lock:
            other.sync(self.articles)
            other.measure_best_of_n()
            self.embedder, self.index, self.best_of_n = other.embedder, other.index, other.best_of_n

    def save(self, index_dir: Path) -> None:
        """Persist the index with the stamp of the articles it now holds."""
        with self.lock, _directory_lock(index_dir):
            self.index.save(index_dir, self.stamp_for(self.articles), self.embedder.name)

    # -- searching ----------------------------------------------------------------
    def article(self, key: str, lang: str | None) -> Article | None:
        """The translation in ``lang`` when it exists, else English, else any."""
        translations = self.articles.by_key.get(key)
        if not translations:
            return None
        for choice in (lang, "en"):
            if choice and choice in translations:
                return translations[choice]
        return next(iter(translations.values()))

    def search(self, query: str, lang: str | None = None, limit: int = 3) -> SearchResult:
        """Rank articles for ``query`` and decide what the bot should do."""
        started = time.perf_counter()
        lang = lang or detect_language(query)
        vector = self.embedder.encode_queries([query])[0]
        with self.lock:
            ranked = self.rank(query, vector, lang)
        hits = []
        for scored in ranked[: max(limit, 2)]:
            article = self.article(scored.key, lang or scored.matched_lang)
            if article is not None:
                hits.append(
                    Hit(
                        scored.key,
                        article.lang,
                        article.title,
                        article.body,
                        scored.score,
                        scored.matched,
                        scored.matched_lang,
                        scored.signals,
                    )
                )
        decision = self.decide(hits)
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResult(query, lang, decision, hits[:limit], elapsed)

    def rank(self, query: str, vector: np.ndarray, lang: str | None = None) -> list[Fused]:
        """Every candidate article with its fused score and signals, best first."""
        return fuse(self.candidates(query, vector, lang), self.weights)

    def candidates(self, query: str, vector: np.ndarray, lang: str | None = None) -> list[Candidate]:
        """The candidate articles for one question, each with its three signals (not yet fused)."""
        index = self.index
        keys: set[str] = set()
        centroids = index.search_centroids(vector, self.CANDIDATE_CENTROIDS)
        lexical = index.lexical.scores(query)
        for tid in list(centroids) + lexical.top(self.CANDIDATE_LEXICAL):
            translation = index.translations.get(tid)
            if translation is not None:
                keys.add(translation.key)

        rows = []
        for key in keys:
            langs = index.by_article.get(key, {})
            tids = list(langs.values())
            if not tids:
                continue
            translations = [index.translations[t] for t in tids]
            if len(translations) == 1:
                unit_scores, unit_ids = translations[0].vectors @ vector, translations[0].unit_ids
            else:
                unit_scores = np.concatenate([t.vectors @ vector for t in translations])
                unit_ids = np.concatenate([t.unit_ids for t in translations])
            best_position = int(unit_scores.argmax())
            dense = float(unit_scores[best_position]) - self.best_of_n.correction(len(unit_scores))
            centroid = max(
                centroids[t] if t in centroids else float(tr.centroid @ vector)
                for t, tr in zip(tids, translations, strict=True)
            )
            if lang is None:
                lex: float | None = max(lexical.get(t, 0.0) for t in tids)
            else:
                lex = lexical.get(langs[lang], 0.0) if lang in langs else None
            best_unit = index.units[int(unit_ids[best_position])]
            rows.append(Candidate(key, dense, centroid, lex, best_unit.text, best_unit.lang))
        return rows

    def decide(self, hits: list[Hit]) -> Decision:
        return decide(hits[0].score if hits else None, hits[1].score if len(hits) > 1 else None, self.thresholds)


@dataclass(frozen=True)
class Candidate:
    """One candidate article's signals for one question, before fusion.

    ``lexical`` is None when the article has no translation in the question's language.
    """

    key: str
    dense: float
    centroid: float
    lexical: float | None
    matched: str
    matched_lang: str


@dataclass(frozen=True)
class Fused:
    """One candidate article after fusion: its fused score, and the signals it came from (rounded, for display)."""

    key: str
    score: float
    signals: dict[str, float]
    matched: str  # the unit text that matched best
    matched_lang: str


def fuse(candidates: list[Candidate], w: Weights) -> list[Fused]:
    """Fused score for each candidate, best first (the rule is in this module's docstring)."""
    present = [c.lexical for c in candidates if c.lexical is not None]
    baseline = float(np.median(present)) if present else 0.0
    total = w.dense + w.centroid + w.lexical
    ranked: list[Fused] = []
    for c in candidates:
        bonus = 0.0 if c.lexical is None else c.lexical - baseline
        fused = (w.dense * c.dense + w.centroid * c.centroid + w.lexical * bonus) / total
        signals = {"dense": round(c.dense, 4), "centroid": round(c.centroid, 4), "lexical": round(c.lexical or 0.0, 4)}
        ranked.append(Fused(c.key, fused, signals, c.matched, c.matched_lang))
    ranked.sort(key=lambda item: item.score, reverse=True)
    return ranked


def decide(best: float | None, runner_up: float | None, t: Thresholds) -> Decision:
    if best is None or best < t.clarify:
        return "decline"
    if best >= t.answer and best - (runner_up or 0.0) >= t.margin:
        return "answer"
    return "clarify"
