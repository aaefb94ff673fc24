"""A lexical signal: TF-IDF cosine over character n-grams of normalised text.

Character n-grams (2–5, within word boundaries) match product names and codes
exactly, and catch Arabic and Persian words under their prefixes and suffixes
(ال, و, ها, ی) where whole-word matching fails. Features are hashed, so there is
no vocabulary to refit.

Weighting every document again after each edit is too slow at 10,000 articles
for "searchable within a second" (docs/benchmarks.md, third session). So documents live in
two blocks weighted with the same IDF snapshot: the *base*, built for all
documents at once, and a small *fresh* block holding what was added or replaced
since (a removed or replaced base document is masked). An edit rebuilds only the
fresh block; :meth:`LexicalIndex.compact` folds it into a new base with the
current IDF, which the service does once edits settle, and which happens by
itself when the fresh block outgrows ``FRESH_SHARE`` of the documents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from knowledge_base.text import normalize

N_FEATURES = 2**20
FRESH_MIN = 64  # documents the fresh block may hold before a compaction, at least
FRESH_SHARE = 0.05  # and as a share of all documents


class LexicalScores(Mapping[int, float]):
    """One query's cosine with every document, kept as an array.

    Reads as a mapping of the documents that share an n-gram with the query; the
    ranker looks up only its candidates and the best few (:meth:`top`), so a
    large help centre costs no per-document Python work.
    """

    def __init__(self, ids: np.ndarray, values: np.ndarray, positions: dict[int, int]) -> None:
        self._ids, self._values, self._positions = ids, values, positions

    def __getitem__(self, doc_id: int) -> float:
        position = self._positions.get(doc_id)
        if position is None or self._values[position] == 0:
            raise KeyError(doc_id)
        return float(self._values[position])

    def __iter__(self) -> Iterator[int]:
        return (int(self._ids[i]) for i in np.flatnonzero(self._values))

    def __len__(self) -> int:
        return int(np.count_nonzero(self._values))

    def top(self, k: int) -> list[int]:
        """The ``k`` best-scoring documents, best first (only those with a shared n-gram)."""
        values = self._values
        if k <= 0 or not len(values):
            return []
        best = np.argpartition(-values, k - 1)[:k] if len(values) > k else np.arange(len(values))
        best = best[np.argsort(-values[best], kind="stable")]
        return [int(self._ids[i]) for i in best if values[i] > 0]


NO_SCORES = LexicalScores(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), {})


class LexicalIndex:
    def __init__(self) -> None:
        self.vectorizer = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(2, 5),
            n_features=N_FEATURES,
            alternate_sign=False,
            norm=None,
            lowercase=False,
            preprocessor=normalize,
            dtype=np.float32,
        )
        self.rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # doc id -> (n-grams, sublinear tf)
        self.df = np.zeros(N_FEATURES, dtype=np.int32)
        self._idf: np.ndarray | None = None  # the IDF snapshot both blocks are weighted with
        self._base: _Block | None = None
        self._fresh: set[int] = set()  # documents added or replaced since the base was built
        self._view: _View | None = None  # how the two blocks read as one, until the next change

    def __len__(self) -> int:
        return len(self.rows)

    def _tf(self, texts: list[str]) -> sparse.csr_matrix:
        matrix = self.vectorizer.transform(texts).tocsr()
        matrix.data = 1.0 + np.log(matrix.data)
        return matrix

    def add(self, ids: list[int], texts: list[str]) -> None:
        if not ids:
            return
        matrix = self._tf(texts)
        for i, doc_id in enumerate(ids):
            if doc_id in self.rows:
                self.remove(doc_id)
            row = slice(matrix.indptr[i], matrix.indptr[i + 1])
            grams = matrix.indices[row].astype(np.int32)
            self.rows[doc_id] = (grams, matrix.data[row].astype(np.float32))
            self.df[grams] += 1
            self._fresh.add(doc_id)
        self._view = None

    def remove(self, doc_id: int) -> None:
        row = self.rows.pop(doc_id, None)
        if row is not None:
            self.df[row[0]] -= 1
            self._fresh.discard(doc_id)
            self._view = None

    @property
    def pending(self) -> int:
        """Documents changed since the base was built (0 once compacted)."""
        if self._base is None:
            return len(self.rows)
        return len(self._fresh) + sum(1 for doc_id in self._base.ids if int(doc_id) not in self.rows)

    def compact(self) -> bool:
        """Weight every document with the current IDF in one new base; False when nothing changed."""
        if self._base is not None and not self.pending:
            return False
        n = len(self.rows)
        self._idf = (np.log((n + 1) / (self.df.astype(np.float32) + 1)) + 1).astype(np.float32)
        self._base = _Block.weigh(self.rows, np.fromiter(self.rows, dtype=np.int64, count=n), self._idf)
        self._fresh.clear()
        self._view = None
        return True

    def _prepare(self) -> _View:
        if self._view is not None:
            return self._view
        if self._base is None or len(self._fresh) > max(FRESH_MIN, FRESH_SHARE * len(self.rows)):
            self.compact()
        assert self._base is not None and self._idf is not None
        base_ids = self._base.ids
        fresh_ids = np.fromiter(self._fresh, dtype=np.int64, count=len(self._fresh))
        current = np.array([int(d) in self.rows and int(d) not in self._fresh for d in base_ids], dtype=bool)
        positions = {int(d): i for i, d in enumerate(base_ids) if current[i]}
        positions.update({int(d): len(base_ids) + i for i, d in enumerate(fresh_ids)})
        self._view = _View(
            fresh=_Block.weigh(self.rows, fresh_ids, self._idf) if len(fresh_ids) else None,
            ids=np.concatenate([base_ids, fresh_ids]),
            positions=positions,
            masked=np.flatnonzero(~current),
        )
        return self._view

    def scores(self, query: str) -> LexicalScores:
        """Cosine of the query with every document (non-zero where they share an n-gram)."""
        if not self.rows:
            return NO_SCORES
        view = self._prepare()
        assert self._base is not None and self._idf is not None
        q = self.vectorizer.transform([query])  # one row: the query's n-grams and their counts
        grams = q.indices
        weights = (1.0 + np.log(q.data)) * self._idf[grams]
        norm = float(np.sqrt(weights @ weights))
        if norm == 0:
            return NO_SCORES
        weights /= norm
        values = self._base.scores(grams, weights)
        values[view.masked] = 0.0  # base documents removed or replaced since
        if view.fresh is not None:
            values = np.concatenate([values, view.fresh.scores(grams, weights)])
        return LexicalScores(view.ids, values, view.positions)


@dataclass(frozen=True)
class _View:
    """The base and fresh blocks read as one list of documents."""

    fresh: _Block | None
    ids: np.ndarray  # the base's documents, then the fresh block's
    positions: dict[int, int]  # doc id -> position in ids, for current documents only
    masked: np.ndarray  # positions of base documents removed or replaced since


@dataclass(frozen=True)
class _Block:
    """Some documents' IDF-weighted, normalised n-gram vectors, stored n-gram-major."""

    ids: np.ndarray
    matrix: sparse.csc_matrix  # documents x n-grams; a column lists the documents holding an n-gram

    @classmethod
    def weigh(cls, rows: dict[int, tuple[np.ndarray, np.ndarray]], ids: np.ndarray, idf: np.ndarray) -> _Block:
        """The documents ``ids`` weighted with ``idf``, built from flat arrays (per-row sparse objects are slow)."""
        n = len(ids)
        chosen = [rows[int(i)] for i in ids]
        lengths = np.fromiter((len(grams) for grams, _ in chosen), dtype=np.int64, count=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        grams = np.concatenate([g for g, _ in chosen]) if n else np.zeros(0, dtype=np.int32)
        weighted = (np.concatenate([tf for _, tf in chosen]) if n else np.zeros(0, np.float32)) * idf[grams]
        norms = np.sqrt(np.bincount(np.repeat(np.arange(n), lengths), weighted * weighted, minlength=n))
        norms[norms == 0] = 1.0
        weighted /= np.repeat(norms, lengths).astype(np.float32)
        return cls(ids, sparse.csr_matrix((weighted, grams, indptr), shape=(n, N_FEATURES)).tocsc())

    def scores(self, grams: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Each document's dot product with a query given as n-grams and weights.

        The CSC matrix read transposed is n-grams x documents in CSR without a copy:
        selecting the query's rows and multiplying is two C loops over the postings
        touched, faster than gathering them with NumPy index arithmetic (docs/benchmarks.md,
        sixth session).
        """
        if not len(self.ids):
            return np.zeros(0, dtype=np.float32)
        postings = self.matrix.T[grams]  # query n-grams x documents
        return np.asarray(postings.T @ weights, dtype=np.float32)
