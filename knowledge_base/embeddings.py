"""Sentence embeddings with the query/passage prompts the model was trained with."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


class Embedder:
    """Wraps a sentence-transformers model; vectors are L2-normalised float32.

    e5 models expect ``query: `` and ``passage: `` prefixes; they are taken from
    the model folder's own prompt configuration, so a model without prompts
    (all-MiniLM) simply gets none.
    """

    def __init__(self, model: str | Path, device: str = "cpu") -> None:
        from sentence_transformers import SentenceTransformer

        self.name = str(model)
        self.model = SentenceTransformer(str(model), device=device)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        prompts = getattr(self.model, "prompts", {}) or {}
        self._query_prompt = "query" if "query" in prompts else None
        self._passage_prompt = "passage" if "passage" in prompts else None

    def encode_queries(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed customer questions (and alternative phrasings, which are questions too)."""
        return self._encode(texts, self._query_prompt, progress)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed article bodies."""
        return self._encode(texts, self._passage_prompt, progress)

    def _encode(self, texts: list[str], prompt: str | None, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            prompt_name=prompt,
            batch_size=32,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)
