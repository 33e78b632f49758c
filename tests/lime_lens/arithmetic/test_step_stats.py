"""``step_stats``: paired differences per seed, and seeds that share test expressions combined
without counting them as independent samples."""

import math
import random
import statistics

import pytest

from lime_lens.arithmetic.step_stats import combined_difference, constant_bits, paired_difference


def _random_bits(rng: random.Random, n: int, p: float) -> str:
    return "".join("1" if rng.random() < p else "0" for _ in range(n))


def test_paired_difference_is_the_mean_and_se_of_the_per_expression_differences():
    a, b = "1101", "0111"  # differences 1, 0, -1, 0
    mean, se = paired_difference(a, b)
    assert mean == 0.0
    assert se == pytest.approx(statistics.stdev([1, 0, -1, 0]) / 2)


def test_one_seed_gives_the_paired_se_and_no_seed_part():
    rng = random.Random(0)
    a, b = _random_bits(rng, 200, 0.3), _random_bits(rng, 200, 0.2)
    out = combined_difference({0: a}, {0: b})
    assert (out.mean, out.se) == pytest.approx(paired_difference(a, b))
    assert math.isnan(out.se_seed)


def test_identical_seeds_add_no_information():
    """Two seeds that answer identically are one seed's evidence: the SE stays the one-seed SE
    (pooling them as 2n independent answers would shrink it by sqrt(2))."""
    rng = random.Random(1)
    a, b = _random_bits(rng, 500, 0.4), _random_bits(rng, 500, 0.3)
    one = combined_difference({0: a}, {0: b})
    two = combined_difference({0: a, 1: a}, {0: b, 1: b})
    assert two.mean == pytest.approx(one.mean)
    assert two.se == pytest.approx(one.se)
    pooled = paired_difference(a + a, b + b)[1]
    assert pooled < two.se / 1.4


def test_the_combined_se_is_never_below_its_test_sampling_part():
    rng = random.Random(2)
    a = {s: _random_bits(rng, 300, 0.1 + 0.05 * s) for s in range(3)}
    b = {s: _random_bits(rng, 300, 0.1) for s in range(3)}
    out = combined_difference(a, b)
    assert out.se >= out.se_test and out.se == pytest.approx(math.hypot(out.se_test, out.se_seed))
    assert out.mean == pytest.approx(statistics.fmean(d for d, _ in out.per_seed.values()))


def test_constant_answer_is_scored_like_a_model():
    assert constant_bits([3, 5, 3, 0], 3) == "1010"


@pytest.mark.parametrize(
    ("a", "b", "match"),
    [("10", "1", "score 2 and 1"), ("1x", "10", "correct_a"), ("", "", "correct_a")],
)
def test_bad_bits_are_refused_naming_the_argument(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_difference(a, b)
