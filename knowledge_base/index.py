"""A FAISS index over the searchable units of each article translation.

An article is found through its title, each alternative question and its body.
Each of these is one *unit* with its own vector; an article's score is the best
score of its units. Units have stable int64 ids so that one article can later be
replaced or removed without a full rebuild.
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
    units.append(Unit(article.key, article.lang, "body", article.body))
    return units


class VectorIndex:
    """Inner-product FAISS index (cosine on normalised vectors) with unit metadata."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.faiss: faiss.Index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        self.units: dict[int, Unit] = {}
        self._next_id = 0

    def __len__(self) -> int:
        return len(self.units)

    def add_articles(self, articles: list[Article], embedder: Embedder, progress: bool = False) -> None:
        """Embed and add every unit of ``articles``."""
        units = [unit for article in articles for unit in article_units(article)]
        if not units:
            return
        question_like = [i for i, u in enumerate(units) if u.kind != "body"]
        bodies = [i for i, u in enumerate(units) if u.kind == "body"]
        vectors = np.zeros((len(units), self.dimension), dtype=np.float32)
        if question_like:
            vectors[question_like] = embedder.encode_queries([units[i].text for i in question_like], progress)
        if bodies:
            vectors[bodies] = embedder.encode_passages([units[i].text for i in bodies], progress)
        ids = np.arange(self._next_id, self._next_id + len(units), dtype=np.int64)
        self._next_id += len(units)
        self.faiss.add_with_ids(vectors, ids)
        self.units.update({int(i): u for i, u in zip(ids, units, strict=True)})

    def remove_article(self, key: str, lang: str | None = None) -> int:
        """Drop the units of one article (one translation when ``lang`` is given)."""
        ids = [i for i, u in self.units.items() if u.key == key and (lang is None or u.lang == lang)]
        if ids:
            self.faiss.remove_ids(np.asarray(ids, dtype=np.int64))  # type: ignore[arg-type]
            for i in ids:
                del self.units[i]
        return len(ids)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[Unit, float]]:
        """The ``k`` best units for one query vector."""
        if not self.units:
            return []
        scores, ids = self.faiss.search(vector.reshape(1, -1), min(k, len(self.units)))
        return [(self.units[int(i)], float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]

    def save(self, directory: Path, stamp: str, model: str) -> None:
        """Write the index atomically: a reader never sees half a file."""
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / "index.faiss.tmp"
        faiss.write_index(self.faiss, str(tmp))
        os.replace(tmp, directory / "index.faiss")
        meta = {
            "stamp": stamp,
            "model": model,
            "dimension": self.dimension,
            "next_id": self._next_id,
            "units": {str(i): asdict(u) for i, u in self.units.items()},
        }
        tmp_meta = directory / "units.json.tmp"
        tmp_meta.write_text(json.dumps(meta, ensure_ascii=False))
        os.replace(tmp_meta, directory / "units.json")

    @staticmethod
    def saved_stamp(directory: Path) -> tuple[str, str] | None:
        """(stamp, model) of a saved index, without reading the vectors."""
        try:
            meta = json.loads((directory / "units.json").read_text())
            return str(meta["stamp"]), str(meta["model"])
        except (OSError, ValueError, KeyError):
            return None

    @classmethod
    def load(cls, directory: Path) -> tuple[VectorIndex, str, str] | None:
        """Read a saved index; ``None`` when there is none or it is unreadable."""
        try:
            meta = json.loads((directory / "units.json").read_text())
            index = cls(int(meta["dimension"]))
            index.faiss = faiss.read_index(str(directory / "index.faiss"))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        index.units = {int(i): Unit(**u) for i, u in meta["units"].items()}
        index._next_id = int(meta["next_id"])
        if index.faiss.ntotal != len(index.units):
            return None
        return index, str(meta["stamp"]), str(meta["model"])
