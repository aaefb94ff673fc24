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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

SAMPLE_QUESTIONS = 256  # units standing in for customers' questions, one from each of as many articles
SAMPLE_ARTICLES = 128  # articles whose units they are compared with


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


def estimate(counts: Sequence[int], vectors: Callable[[int], np.ndarray], seed: int = 0) -> BestOfN:
    """Measure σ, ρ and the reference: article ``i`` has ``counts[i]`` units, ``vectors(i)`` gives them.

    One unit of each of a sample of articles plays a customer's question; each is
    compared with the units of a sample of other articles. Only the sampled articles'
    vectors are read, and the cost is ``SAMPLE_QUESTIONS`` × (units of
    ``SAMPLE_ARTICLES`` articles) dot products, whatever the help centre's size. The
    sample sizes were chosen so that the estimate hardly moves with the seed
    (docs/benchmarks.md, "The best-of-n correction's cost").
    """
    if len(counts) < 2:
        return BestOfN()
    reference = float(np.mean([expected_max(n) for n in counts]))
    rng = np.random.default_rng(seed)
    asking = rng.choice(len(counts), size=min(SAMPLE_QUESTIONS, len(counts)), replace=False)
    questions = np.stack([vectors(int(a))[rng.integers(counts[a])] for a in asking])
    compared = rng.choice(len(counts), size=min(SAMPLE_ARTICLES, len(counts)), replace=False)
    sizes = np.array([counts[a] for a in compared])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    cosines = questions @ np.concatenate([vectors(int(a)) for a in compared]).T
    # a question is no stranger to its own article: those cells are left out
    own = asking[:, None] == np.repeat(compared, sizes)[None, :]
    values = cosines[~own]
    mean, sigma = float(values.mean()), float(values.std())
    if sigma <= 0:
        return BestOfN(reference=reference)
    # ρ: the mean product of two centred cosines with units of one wrong article, over σ²
    centred = np.where(own, 0.0, cosines - mean)
    sums = np.add.reduceat(centred, starts, axis=1)  # per question and compared article
    squares = np.add.reduceat(centred**2, starts, axis=1)
    strangers = ~(asking[:, None] == compared[None, :])
    pairs = int((strangers * (sizes * (sizes - 1))[None, :]).sum())
    products = float(((sums**2 - squares) * strangers).sum())
    rho = min(1.0, max(0.0, products / pairs / sigma**2)) if pairs else 0.0
    return BestOfN(spread=sigma * float(np.sqrt(1.0 - rho)), reference=reference, sigma=sigma, rho=rho)
