"""The best-of-n correction of the dense signal (knowledge_base/best_of_n.py)."""

import numpy as np
import pytest

from knowledge_base.best_of_n import BestOfN, expected_max
from knowledge_base.best_of_n import estimate as estimate_lazily


def test_expected_max_of_n_normals():
    assert expected_max(1) == 0.0
    # exact values: 1/sqrt(pi), and the tabulated maxima of 10 and 100 standard normals
    assert expected_max(2) == pytest.approx(0.5642, abs=0.01)
    assert expected_max(10) == pytest.approx(1.5388, abs=0.01)
    assert expected_max(100) == pytest.approx(2.5076, abs=0.01)
    values = [expected_max(n) for n in range(1, 200)]
    assert values == sorted(values) and len(set(values)) == len(values)


def estimate(units: list[np.ndarray]) -> BestOfN:
    return estimate_lazily([len(u) for u in units], units.__getitem__)


def _help_centre(rng: np.random.Generator, counts: list[int], dim: int = 64, spread: float = 0.9):
    """Articles as clusters on the sphere: each unit is the article's centre plus noise."""
    centres = rng.normal(size=(len(counts), dim))
    units = []
    for centre, n in zip(centres, counts, strict=True):
        u = centre + spread * rng.normal(size=(n, dim))
        units.append(u / np.linalg.norm(u, axis=1, keepdims=True))
    return centres, units


def _questions(rng: np.random.Generator, centres: np.ndarray, per_article: int = 30, spread: float = 0.9):
    labels = np.repeat(np.arange(len(centres)), per_article)
    q = centres[labels] + spread * rng.normal(size=(len(labels), centres.shape[1]))
    return q / np.linalg.norm(q, axis=1, keepdims=True), labels


def _top1(questions, labels, units, best_of_n: BestOfN) -> float:
    scores = np.stack([(questions @ u.T).max(axis=1) - best_of_n.correction(len(u)) for u in units], axis=1)
    return float((scores.argmax(axis=1) == labels).mean())


def test_with_the_same_number_of_units_nothing_changes():
    rng = np.random.default_rng(0)
    _, units = _help_centre(rng, [11] * 40)
    measured = estimate(units)
    assert measured.spread > 0
    assert measured.correction(11) == pytest.approx(0.0, abs=1e-12)


def test_articles_with_many_units_no_longer_win_by_their_number():
    """Uneven help centres: the corrected best unit ranks more questions right, the plain one fewer."""
    rng = np.random.default_rng(1)
    counts = [int(n) for n in rng.choice([1, 2, 3, 30, 40], size=60)]
    centres, units = _help_centre(rng, counts, spread=1.5)
    questions, labels = _questions(rng, centres, spread=1.5)
    measured = estimate(units)
    plain, corrected = _top1(questions, labels, units, BestOfN()), _top1(questions, labels, units, measured)
    assert corrected > plain + 0.05, (plain, corrected, measured)  # 60 % -> 71 % with this seed
    # the articles with few units were the ones losing their questions
    few = np.isin(labels, [a for a, n in enumerate(counts) if n <= 3])
    assert _top1(questions[few], labels[few], units, measured) > _top1(questions[few], labels[few], units, BestOfN())


def test_correlation_is_measured():
    """Tight clusters (units alike) have correlated cosines with a stranger: a smaller correction per unit."""
    tight = estimate(_help_centre(np.random.default_rng(2), [10] * 50, spread=0.3)[1])
    loose = estimate(_help_centre(np.random.default_rng(2), [10] * 50, spread=3.0)[1])
    assert 0 <= loose.rho < tight.rho <= 1
    assert tight.spread < tight.sigma


def test_too_little_to_measure():
    assert estimate([]) == BestOfN()
    assert estimate([np.ones((3, 4)) / 2]) == BestOfN()
