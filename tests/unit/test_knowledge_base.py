"""The knowledge base's decision rule on made-up scores (the search itself, with the real model, is in tests/model)."""

from knowledge_base.search import Hit, KnowledgeBase, Thresholds


def _hit(score: float) -> Hit:
    return Hit("k", "en", "t", "b", score, "t", "en")


def test_decision_rule():
    kb = KnowledgeBase.__new__(KnowledgeBase)
    kb.thresholds = Thresholds(answer=0.9, clarify=0.8, margin=0.02)
    assert kb.decide([]) == "decline"
    assert kb.decide([_hit(0.79), _hit(0.5)]) == "decline"
    assert kb.decide([_hit(0.85), _hit(0.5)]) == "clarify"
    assert kb.decide([_hit(0.95), _hit(0.94)]) == "clarify"  # too close to the runner-up
    assert kb.decide([_hit(0.95), _hit(0.90)]) == "answer"
    assert kb.decide([_hit(0.95)]) == "answer"
