"""A lexical signal: TF-IDF cosine over character n-grams of normalised text.

Character n-grams (2–5, within word boundaries) match product names and codes
exactly, and catch Arabic and Persian words under their prefixes and suffixes
(ال, و, ها, ی) where whole-word matching fails. Features are hashed, so there is
no vocabulary to refit: one document is added or removed in microseconds, and
the IDF-weighted matrix is rebuilt lazily at the next query (milliseconds).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from knowledge_base.text import normalize

N_FEATURES = 2**20


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
        self.rows: dict[int, sparse.csr_matrix] = {}  # doc id -> sublinear term frequencies
        self.df = np.zeros(N_FEATURES, dtype=np.int32)
        self._matrix: sparse.csr_matrix | None = None  # n-grams x documents, IDF-weighted, rows normalised
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)
        self._positions: dict[int, int] = {}
        self._idf: np.ndarray | None = None

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
            row = matrix.getrow(i)
            if doc_id in self.rows:
                self.remove(doc_id)
            self.rows[doc_id] = row
            self.df[row.indices] += 1
        self._matrix = None

    def remove(self, doc_id: int) -> None:
        row = self.rows.pop(doc_id, None)
        if row is not None:
            self.df[row.indices] -= 1
            self._matrix = None

    def _prepare(self) -> None:
        n = len(self.rows)
        self._idf = (np.log((n + 1) / (self.df.astype(np.float32) + 1)) + 1).astype(np.float32)
        if n == 0:
            self._matrix, self._ids, self._positions = None, np.zeros(0, dtype=np.int64), {}
            return
        self._ids = np.fromiter(self.rows.keys(), dtype=np.int64, count=n)
        self._positions = {int(doc_id): row for row, doc_id in enumerate(self._ids)}
        stacked = sparse.vstack([self.rows[i] for i in self._ids]).tocsr()
        weighted = stacked.multiply(self._idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        # one row per n-gram: a query reads only the rows of its own n-grams
        self._matrix = sparse.diags(1.0 / norms).dot(weighted).T.tocsr().astype(np.float32)

    def scores(self, query: str) -> LexicalScores:
        """Cosine of the query with every document (non-zero where they share an n-gram)."""
        if not self.rows:
            return NO_SCORES
        if self._matrix is None:
            self._prepare()
        assert self._matrix is not None and self._idf is not None
        q = self.vectorizer.transform([query])  # one row: the query's n-grams and their counts
        grams = q.indices
        weights = (1.0 + np.log(q.data)) * self._idf[grams]
        norm = float(np.sqrt(weights @ weights))
        if norm == 0:
            return NO_SCORES
        # read only the rows of the query's n-grams, as flat arrays (no sparse-matrix objects)
        matrix = self._matrix
        starts, ends = matrix.indptr[grams], matrix.indptr[grams + 1]
        lengths = ends - starts
        total = int(lengths.sum())
        if total == 0:
            return NO_SCORES
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        product = np.bincount(
            matrix.indices[offsets],
            weights=matrix.data[offsets] * np.repeat(weights / norm, lengths),
            minlength=len(self._ids),
        ).astype(np.float32)
        return LexicalScores(self._ids, product, self._positions)
