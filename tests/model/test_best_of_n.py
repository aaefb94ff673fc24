"""The best-of-n correction (knowledge_base/best_of_n.py) in the knowledge base, with the real model.

The estimate itself, on synthetic help centres, is in tests/unit/test_best_of_n.py.
"""

import dataclasses

import pytest

from knowledge_base.articles import ArticleSet
from knowledge_base.best_of_n import BestOfN
from knowledge_base.search import KnowledgeBase


def test_knowledge_base_measures_and_remeasures_after_edits(embedder, demo_articles):
    kb = KnowledgeBase(embedder)
    kb.load(demo_articles)
    first = kb.best_of_n
    assert 0 < first.spread < first.sigma and first.reference > 0
    # an article gains many phrasings: measured again once the edits settle, not at each edit
    article = demo_articles.by_key["return-an-item"]["en"]
    more = tuple(f"{q} (variant {i})" for i in range(4) for q in article.questions)
    kb.upsert(dataclasses.replace(article, questions=article.questions + more))
    assert kb.best_of_n == first
    assert kb.compact()
    assert kb.best_of_n.reference > first.reference
    hit = kb.search("how do I return an item?", "en").best
    assert hit is not None and hit.key == "return-an-item"


def test_even_help_centre_scores_as_without_the_correction(embedder, demo_articles):
    """Every translation the same size: the ranking and the scores are those of the plain best unit."""
    even = ArticleSet()
    for article in demo_articles:
        even.add(dataclasses.replace(article, questions=article.questions[:5], body=""))
    with_it, without = KnowledgeBase(embedder), KnowledgeBase(embedder, correct_best_of_n=False)
    with_it.load(even)
    without.load(even)
    assert with_it.best_of_n.spread > 0 and without.best_of_n == BestOfN()
    for question in ("how do I return an item?", "can I pay with PayPal?", "مرسوله من کجاست؟"):
        a, b = with_it.search(question), without.search(question)
        assert [h.key for h in a.hits] == [h.key for h in b.hits]
        assert [h.score for h in a.hits] == pytest.approx([h.score for h in b.hits], abs=1e-9)
