"""A fair dense signal for articles with different numbers of phrasings.

An article's dense signal is its best unit cosine: the maximum over its title,
alternative questions and body. A maximum grows with the number of draws, so an
article with 20 phrasings outscores one with 4 on an unrelated question by chance
alone. With every article holding the same number (the evaluation sets) this does
not matter; in a real help centre, where some articles have three phrasings and
others thirty, and where questions learnt from conversations pile up on the
popular articles, it pulls answers towards the articles with the most phrasings.

The correction subtracts what the maximum gains by chance. Model the cosines of a
question with the units of an article it does not belong to as normal, with spread
σ and correlation ρ between two units of one article (its phrasings resemble each
other). The maximum of n such cosines then exceeds a single one by
σ·√(1−ρ)·E[max of n standard normals] on average. σ and ρ are measured on the help
centre itself (its phrasings against other articles' units), so there is nothing
to tune. The correction is taken relative to
the mean over the articles, so a help centre whose articles all have the same
number of units is scored exactly as without it, and typical scores (and with them
calibrated thresholds) do not move. docs/knowledge-base.md has the measurements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

SAMPLE_QUESTIONS = 512  # units standing in for customers' questions, one from each of as many articles
SAMPLE_ARTICLES = 256  # articles whose units they are compared with


_GRID = np.linspace(-9.0, 9.0, 3601)
_DENSITY = np.exp(-(_GRID**2) / 2) / np.sqrt(2 * np.pi)
_CUMULATIVE = special.ndtr(_GRID)


@functools.lru_cache(maxsize=4096)
def expected_max(n: int) -> float:
    """E[max of n independent standard normals] (0 for n = 1), integrated numerically.

    The maximum's density is n·φ(x)·Φ(x)^(n−1); the integral on a grid of 0.005 is
    exact to about 1e-6 (Blom's approximation is off by 0.025 at n = 2).
    """
    if n <= 1:
        return 0.0
    return float(np.trapezoid(_GRID * n * _DENSITY * _CUMULATIVE ** (n - 1), _GRID))


@dataclass(frozen=True)
class BestOfN:
    """The chance gain of a best-of-n cosine in one help centre: ``spread``·(E[max of n] − ``reference``)."""

    spread: float = 0.0  # σ·√(1−ρ) of the cosines with a wrong article's units
    reference: float = 0.0  # the mean of E[max of n] over the articles
    sigma: float = 0.0
    rho: float = 0.0

    def correction(self, units: int) -> float:
        """What to subtract from the best unit cosine of an article with ``units`` units."""
        return self.spread * (expected_max(units) - self.reference)


def estimate(units: Sequence[np.ndarray], seed: int = 0) -> BestOfN:
    """Measure σ, ρ and the reference on the unit vectors of each article (one array per article).

    One unit of each of a sample of articles plays a customer's question; each is
    compared with the units of a sample of other articles. The cost is
    ``SAMPLE_QUESTIONS`` × (units of ``SAMPLE_ARTICLES`` articles) dot products: a few
    milliseconds whatever the size of the help centre.
    """
    counts = [len(u) for u in units]
    if len(units) < 2:
        return BestOfN()
    reference = float(np.mean([expected_max(n) for n in counts]))
    rng = np.random.default_rng(seed)
    asking = rng.choice(len(units), size=min(SAMPLE_QUESTIONS, len(units)), replace=False)
    questions = np.stack([units[a][rng.integers(counts[a])] for a in asking])
    compared = rng.choice(len(units), size=min(SAMPLE_ARTICLES, len(units)), replace=False)
    # each block: the sampled questions of other articles against one article's units
    blocks = [questions[asking != article] @ units[article].T for article in compared]
    values = np.concatenate([b.ravel() for b in blocks])
    mean, sigma = float(values.mean()), float(values.std())
    if sigma <= 0:
        return BestOfN(reference=reference)
    # ρ: the mean product of two centred cosines with units of one wrong article, over σ²
    products, pairs = 0.0, 0
    for block in blocks:
        n = block.shape[1]
        if n >= 2 and block.shape[0]:
            centred = block - mean
            products += float((centred.sum(axis=1) ** 2 - (centred**2).sum(axis=1)).sum())
            pairs += centred.shape[0] * n * (n - 1)
    rho = min(1.0, max(0.0, products / pairs / sigma**2)) if pairs else 0.0
    return BestOfN(spread=sigma * float(np.sqrt(1.0 - rho)), reference=reference, sigma=sigma, rho=rho)
