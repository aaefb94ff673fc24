"""Fine-tune the embedding model on the help centre's own phrasings.

Editors attach alternative questions to each article; those are exactly the
labelled examples a contrastive objective needs. Two phrasings of the same article
are pulled together and phrasings of other articles in the batch pushed apart
(multiple-negatives ranking loss, symmetric). Each batch holds at most one pair
per article, so no "negative" is really a positive. The word-embedding table
(most of the model's weights, shared by all languages) is frozen: only the
transformer layers adapt, which is faster on a CPU and keeps the vocabulary of
languages the help centre does not use intact.

At the end the weights are rounded to the grid of the 8-bit encoder
(``round_to_int8_grid``), so that its copy of the model is exact and in use.
Left off the grid, the weights were rounded only when the copy was made, and its
vectors drifted from the float ones far enough to fail the check (docs/knowledge-base.md,
fifth round).

The result is an ordinary sentence-transformers folder; the index is rebuilt with it.
:func:`optimised_model` makes one from a base model, exports its encoder, and reports
as it goes; the product runs it in a child process (``python -m knowledge_base
fine-tune``, see ``webhook/runtime/fine_tune_child.py``), so that the gigabytes training needs
are never the web worker's.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from knowledge_base.articles import ArticleSet
from knowledge_base.embeddings import Embedder, round_to_int8_grid

log = logging.getLogger(__name__)


def training_groups(articles: ArticleSet) -> list[list[str]]:
    """The phrasings of each article (title and alternative questions, every language)."""
    groups = []
    for translations in articles.by_key.values():
        texts = [t for a in translations.values() for t in (a.title, *a.questions) if t.strip()]
        if len(texts) >= 2:
            groups.append(texts)
    return groups


def _batches(groups: list[list[str]], batch_size: int, rng: random.Random) -> list[list[tuple[str, str, int]]]:
    pairs = []
    for g, texts in enumerate(groups):
        shuffled = texts[:]
        rng.shuffle(shuffled)
        pairs += [(shuffled[j], shuffled[j + 1], g) for j in range(0, len(shuffled) - 1, 2)]
    rng.shuffle(pairs)
    batches: list[list[tuple[str, str, int]]] = []
    while pairs:
        batch: list[tuple[str, str, int]] = []
        used: set[int] = set()
        rest: list[tuple[str, str, int]] = []
        for pair in pairs:
            if pair[2] in used or len(batch) == batch_size:
                rest.append(pair)
            else:
                batch.append(pair)
                used.add(pair[2])
        batches.append(batch)
        pairs = rest
    return [b for b in batches if len(b) > 1]


TARGET_STEPS = 100


def default_epochs(articles: ArticleSet, batch_size: int = 32, low: int = 3, high: int = 10) -> int:
    """Enough passes for about ``TARGET_STEPS`` optimiser steps, between ``low`` and ``high``.

    A small help centre makes few batches per pass, so it needs more passes to train
    as much as a large one does. The target was chosen on the evaluation sets
    (docs/knowledge-base.md, second round).
    """
    steps = max(1, len(_batches(training_groups(articles), batch_size, random.Random(0))))
    return max(low, min(high, -(-TARGET_STEPS // steps)))


def fine_tune(
    embedder: Embedder,
    articles: ArticleSet,
    target: Path | None,
    epochs: int = 4,
    batch_size: int = 32,
    learning_rate: float = 3e-5,
    seed: int = 0,
    on_epoch: Callable[[int, float], None] | None = None,
) -> Path | None:
    """Train ``embedder``'s model in place on ``articles``; save it to ``target`` when given."""
    groups = training_groups(articles)
    if len(groups) < 2:
        raise ValueError("fine-tuning needs at least two articles with alternative questions")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = embedder.model
    prompt: str = (model.prompts.get("query") or "") if getattr(model, "prompts", None) else ""
    for name, parameter in model.named_parameters():
        parameter.requires_grad = "word_embeddings" not in name
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=learning_rate, weight_decay=0.01
    )

    def embed(texts: list[str]) -> torch.Tensor:
        features = model.preprocess([prompt + t for t in texts])
        return F.normalize(model(features)["sentence_embedding"], dim=-1)

    model.train()
    started = time.perf_counter()
    try:
        for epoch in range(epochs):
            total = 0.0
            for batch in _batches(groups, batch_size, rng):
                anchors = embed([p[0] for p in batch])
                positives = embed([p[1] for p in batch])
                logits = anchors @ positives.T * 20.0
                labels = torch.arange(len(batch))
                loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.detach())
            log.info(
                "fine-tune epoch %d/%d: loss %.2f (%.0fs)", epoch + 1, epochs, total, time.perf_counter() - started
            )
            if on_epoch:
                on_epoch(epoch + 1, total)
    finally:
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad = False
    # on the grid the 8-bit encoder runs them on, so that its copy is exact and used
    round_to_int8_grid(model)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        model.save(str(target))
    return target


def optimised_model(
    base: str,
    articles: ArticleSet,
    target: Path,
    epochs: int,
    int8: bool = True,
    seed: int = 0,
    report: Callable[[dict[str, Any]], None] = lambda _event: None,
) -> str:
    """Fine-tune a fresh copy of ``base`` on ``articles`` into the folder ``target``; return its encoder.

    The folder appears whole or not at all (saved aside, then renamed). Its ONNX
    export, and the 8-bit copy where it agrees, are made here too, so that whoever
    loads the model next (a web worker) finds them ready and never needs PyTorch's
    training copy. ``report`` gets ``{"phase": ...}`` events, with the epoch and loss
    while training.
    """
    if len(training_groups(articles)) < 2:
        raise ValueError("fine-tuning needs at least two articles with alternative questions")
    report({"phase": "loading", "model": base})
    trainee = Embedder(base, onnx=False)  # trained in PyTorch; exported once saved
    fine_tune(
        trainee,
        articles,
        None,
        epochs=epochs,
        seed=seed,
        on_epoch=lambda e, loss: report({"phase": "fine-tuning", "epoch": e, "epochs": epochs, "loss": round(loss, 4)}),
    )
    report({"phase": "saving"})
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    trainee.model.save(str(tmp))
    os.replace(tmp, target)
    del trainee
    gc.collect()  # the training copy and its optimiser state, before the export loads the model again
    report({"phase": "exporting"})
    return Embedder(target, query_cache=0, int8=int8).backend
