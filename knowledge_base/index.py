"""FAISS indexes over the searchable texts of each article translation.

A translation is found through its title, each alternative question and its body:
each is one *unit* with its own vector in the unit index. A second index holds one
*centroid* per translation: the mean of its title and question vectors, which
stands for the question the article answers as a whole. A lexical index over the
same texts sits beside them. Units and translations have stable int64 ids, so one
translation is replaced or removed without touching the others.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from knowledge_base.articles import Article
from knowledge_base.embeddings import Embedder
from knowledge_base.lexical import LexicalIndex


@dataclass(frozen=True)
class Unit:
    """One indexed text of one article translation."""

    key: str
    lang: str
    kind: str  # "title", "question" or "body"
    text: str


def article_units(article: Article) -> list[Unit]:
    """The texts an article is searched by."""
    units = [Unit(article.key, article.lang, "title", article.title)]
    units += [Unit(article.key, article.lang, "question", q) for q in article.questions]
    if article.body:
        units.append(Unit(article.key, article.lang, "body", article.body))
    return units


def lexical_text(article: Article) -> str:
    return "\n".join([article.title, *article.questions, article.body])


@dataclass
class Translation:
    """Where one translation lives in the indexes."""

    key: str
    lang: str
    unit_ids: np.ndarray
    vectors: np.ndarray  # its units' vectors, in unit_ids order
    centroid: np.ndarray  # the normalised mean of its title and question vectors


def _id_index(dimension: int) -> faiss.Index:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


class VectorIndex:
    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.units_index: faiss.Index = _id_index(dimension)
        self.centroid_index: faiss.Index = _id_index(dimension)
        self.lexical = LexicalIndex()
        self.units: dict[int, Unit] = {}
        self.translations: dict[int, Translation] = {}
        self.by_article: dict[str, dict[str, int]] = {}  # key -> lang -> translation id
        self._next_unit = 0
        self._next_translation = 0
        # the centroids as one matrix for searching, rebuilt at the first search after a change
        self._centroid_ids: np.ndarray | None = None
        self._centroid_matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.units)

    # -- changes ------------------------------------------------------------------
    def add_articles(self, articles: list[Article], embedder: Embedder, progress: bool = False) -> None:
        """Embed and add ``articles`` (a translation already present is replaced)."""
        for article in articles:
            self.remove_article(article.key, article.lang)
        units = [article_units(a) for a in articles]
        flat = [u for group in units for u in group]
        if not flat:
            return
        vectors = np.zeros((len(flat), self.dimension), dtype=np.float32)
        questions = [i for i, u in enumerate(flat) if u.kind != "body"]
        bodies = [i for i, u in enumerate(flat) if u.kind == "body"]
        if questions:
            vectors[questions] = embedder.encode_queries([flat[i].text for i in questions], progress)
        if bodies:
            vectors[bodies] = embedder.encode_passages([flat[i].text for i in bodies], progress)
        start = 0
        for article, group in zip(articles, units, strict=True):
            self._insert(article, group, vectors[start : start + len(group)])
            start += len(group)

    def _insert(self, article: Article, units: list[Unit], vectors: np.ndarray) -> None:
        unit_ids = np.arange(self._next_unit, self._next_unit + len(units), dtype=np.int64)
        self._next_unit += len(units)
        self.units_index.add_with_ids(vectors, unit_ids)
        self.units.update({int(i): u for i, u in zip(unit_ids, units, strict=True)})
        tid = self._next_translation
        self._next_translation += 1
        question_like = vectors[[i for i, u in enumerate(units) if u.kind != "body"]]
        centroid = question_like.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        self.translations[tid] = Translation(article.key, article.lang, unit_ids, vectors, centroid)
        self._centroid_matrix = None
        self.by_article.setdefault(article.key, {})[article.lang] = tid
        self.centroid_index.add_with_ids(centroid.reshape(1, -1).astype(np.float32), np.array([tid], dtype=np.int64))
        self.lexical.add([tid], [lexical_text(article)])

    def remove_article(self, key: str, lang: str | None = None) -> int:
        """Drop one translation (all of them when ``lang`` is None); returns units removed."""
        langs = self.by_article.get(key, {})
        removed = 0
        for code in [lang] if lang else list(langs):
            tid = langs.pop(code, None) if code else None
            if tid is None:
                continue
            translation = self.translations.pop(tid)
            self._centroid_matrix = None
            self.units_index.remove_ids(translation.unit_ids)  # type: ignore[arg-type]
            self.centroid_index.remove_ids(np.array([tid], dtype=np.int64))  # type: ignore[arg-type]
            self.lexical.remove(tid)
            for uid in translation.unit_ids:
                del self.units[int(uid)]
            removed += len(translation.unit_ids)
        if not langs:
            self.by_article.pop(key, None)
        return removed

    # -- reading ------------------------------------------------------------------
    def search_centroids(self, vector: np.ndarray, k: int) -> dict[int, float]:
        """The ``k`` translations whose centroids are nearest to ``vector``, with their cosines.

        A plain matrix product: for one query it is as fast as FAISS's flat index, and
        unlike FAISS it does not touch the OpenMP thread count that PyTorch shares.
        """
        if not self.translations:
            return {}
        if self._centroid_matrix is None:
            self._centroid_ids = np.fromiter(self.translations.keys(), dtype=np.int64, count=len(self.translations))
            self._centroid_matrix = np.stack([self.translations[int(t)].centroid for t in self._centroid_ids])
        assert self._centroid_ids is not None
        scores = self._centroid_matrix @ vector
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k] if len(scores) > k else np.arange(len(scores))
        return {int(self._centroid_ids[i]): float(scores[i]) for i in best}

    # -- persistence --------------------------------------------------------------
    def save(self, directory: Path, stamp: str, model: str) -> None:
        """Write the indexes; each file is replaced atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        for name, index in (("units.faiss", self.units_index), ("centroids.faiss", self.centroid_index)):
            faiss.write_index(index, str(directory / f"{name}.tmp"))
            os.replace(directory / f"{name}.tmp", directory / name)
        meta = {
            "stamp": stamp,
            "model": model,
            "dimension": self.dimension,
            "next_unit": self._next_unit,
            "next_translation": self._next_translation,
            "units": {str(i): asdict(u) for i, u in self.units.items()},
            "translations": {
                str(t): {"key": tr.key, "lang": tr.lang, "unit_ids": tr.unit_ids.tolist()}
                for t, tr in self.translations.items()
            },
        }
        (directory / "index.json.tmp").write_text(json.dumps(meta, ensure_ascii=False))
        os.replace(directory / "index.json.tmp", directory / "index.json")
        (directory / "stamp.json.tmp").write_text(json.dumps({"stamp": stamp, "model": model}))
        os.replace(directory / "stamp.json.tmp", directory / "stamp.json")  # written last: marks a complete save

    @staticmethod
    def saved_stamp(directory: Path) -> tuple[str, str] | None:
        """(stamp, model) of a saved index, without reading the index itself."""
        try:
            meta = json.loads((directory / "stamp.json").read_text())
            return str(meta["stamp"]), str(meta["model"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def load(cls, directory: Path, articles: dict[tuple[str, str], Article]) -> tuple[VectorIndex, str, str] | None:
        """Read a saved index; ``None`` when there is none or it does not fit ``articles``."""
        try:
            meta = json.loads((directory / "index.json").read_text())
            index = cls(int(meta["dimension"]))
            index.units_index = faiss.read_index(str(directory / "units.faiss"))
            index.centroid_index = faiss.read_index(str(directory / "centroids.faiss"))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        index.units = {int(i): Unit(**u) for i, u in meta["units"].items()}
        index._next_unit = int(meta["next_unit"])
        index._next_translation = int(meta["next_translation"])
        if index.units_index.ntotal != len(index.units):
            return None
        for t, tr in meta["translations"].items():
            tid = int(t)
            article = articles.get((tr["key"], tr["lang"]))
            if article is None:
                return None
            unit_ids = np.asarray(tr["unit_ids"], dtype=np.int64)
            vectors = np.stack([index.units_index.reconstruct(int(u)) for u in unit_ids])
            centroid = np.asarray(index.centroid_index.reconstruct(tid), dtype=np.float32)
            index.translations[tid] = Translation(tr["key"], tr["lang"], unit_ids, vectors, centroid)
            index.by_article.setdefault(tr["key"], {})[tr["lang"]] = tid
            index.lexical.add([tid], [lexical_text(article)])
        return index, str(meta["stamp"]), str(meta["model"])
