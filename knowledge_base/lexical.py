"""A lexical signal: TF-IDF cosine over character n-grams of normalised text.

Character n-grams (2–5, within word boundaries) match product names and codes
exactly, and catch Arabic and Persian words under their prefixes and suffixes
(ال, و, ها, ی) where whole-word matching fails. Features are hashed, so there is
no vocabulary to refit: one document is added or removed in microseconds, and
the IDF-weighted matrix is rebuilt lazily at the next query (milliseconds).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from knowledge_base.text import normalize

N_FEATURES = 2**20


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
        self._matrix: sparse.csc_matrix | None = None
        self._ids: np.ndarray = np.zeros(0, dtype=np.int64)
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
            self._matrix, self._ids = None, np.zeros(0, dtype=np.int64)
            return
        self._ids = np.fromiter(self.rows.keys(), dtype=np.int64, count=n)
        stacked = sparse.vstack([self.rows[i] for i in self._ids]).tocsr()
        weighted = stacked.multiply(self._idf).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        # column-major: a query touches only the columns of its own n-grams
        self._matrix = sparse.diags(1.0 / norms).dot(weighted).tocsc().astype(np.float32)

    def scores(self, query: str) -> dict[int, float]:
        """Cosine of the query with every document that shares an n-gram with it."""
        if not self.rows:
            return {}
        if self._matrix is None:
            self._prepare()
        assert self._matrix is not None and self._idf is not None
        q = self._tf([query]).multiply(self._idf).tocsr()
        norm = float(np.sqrt(q.multiply(q).sum()))
        if norm == 0:
            return {}
        # only the columns of the query's n-grams take part
        product = self._matrix[:, q.indices].dot(q.data / norm)
        nonzero = np.flatnonzero(product)
        return {int(self._ids[i]): float(product[i]) for i in nonzero}
