"""Search the help centre and decide: answer, clarify or decline."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from knowledge_base.articles import Article, ArticleSet
from knowledge_base.embeddings import Embedder
from knowledge_base.index import VectorIndex
from knowledge_base.text import detect_language

log = logging.getLogger(__name__)

Decision = Literal["answer", "clarify", "decline"]


@dataclass(frozen=True)
class Thresholds:
    """Score cut-offs for the three decisions.

    answer:  the best article scores at least ``answer`` and leads the runner-up
             by at least ``margin``;
    clarify: the best article scores at least ``clarify``;
    decline: otherwise.
    """

    answer: float = 0.90
    clarify: float = 0.875
    margin: float = 0.015


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


def index_stamp(model_name: str, articles: ArticleSet) -> str:
    """A version stamp: changes when the model or any indexed text changes."""
    digest = hashlib.sha256(model_name.encode())
    for fp in sorted(a.fingerprint() for a in articles):
        digest.update(fp.encode())
    return digest.hexdigest()[:20]


class KnowledgeBase:
    """Articles, their vectors and the decision rule, kept in one process.

    The FastAPI app holds one instance; the custom actions mounted in the same
    process call :meth:`search` directly.
    """

    def __init__(self, embedder: Embedder, thresholds: Thresholds | None = None) -> None:
        self.embedder = embedder
        self.thresholds = thresholds or Thresholds()
        self.articles = ArticleSet()
        self.index = VectorIndex(embedder.dimension)

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
            saved = VectorIndex.load(index_dir)
            if saved is not None and saved[1] == stamp and saved[2] == self.embedder.name:
                self.index = saved[0]
                return False
            log.info("index at %s is missing or stale; rebuilding %d articles", index_dir, len(articles))
        self.index = VectorIndex(self.embedder.dimension)
        self.index.add_articles(list(articles), self.embedder, progress=progress)
        if index_dir is not None:
            self.index.save(index_dir, stamp, self.embedder.name)
        return True

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
        best: dict[str, tuple[float, str, str]] = {}
        for unit, score in self.index.search(vector, k=64):
            if unit.key not in best or score > best[unit.key][0]:
                best[unit.key] = (score, unit.text, unit.lang)
        ranked = sorted(best.items(), key=lambda item: item[1][0], reverse=True)[: max(limit, 2)]
        hits = []
        for key, (score, matched, matched_lang) in ranked:
            article = self.article(key, lang or matched_lang)
            if article is not None:
                hits.append(Hit(key, article.lang, article.title, article.body, score, matched, matched_lang))
        decision = self.decide(hits)
        elapsed = (time.perf_counter() - started) * 1000
        return SearchResult(query, lang, decision, hits[:limit], elapsed)

    def decide(self, hits: list[Hit]) -> Decision:
        t = self.thresholds
        if not hits or hits[0].score < t.clarify:
            return "decline"
        runner_up = hits[1].score if len(hits) > 1 else 0.0
        if hits[0].score >= t.answer and hits[0].score - runner_up >= t.margin:
            return "answer"
        return "clarify"
