"""The models on synthetic learners generated from known parameters: fitted parameters must
recover the truth within the stated tolerances."""

import numpy as np
import pytest
from lms_adaptive import bkt, irt

TRUE_BKT = bkt.Params(prior=np.array([0.2, 0.5, 0.35]), learn=np.array([0.15, 0.05, 0.25]),
                      guess=np.array([0.2, 0.25, 0.1]), slip=np.array([0.1, 0.08, 0.15]))


def synthetic_bkt(seed=7, learners=600):
    rng = np.random.default_rng(seed)
    sequence_facet = np.repeat(np.arange(3), learners)
    lengths = rng.integers(12, 26, len(sequence_facet))
    sequence, correct = bkt.simulate(rng, TRUE_BKT, sequence_facet, lengths)
    return bkt.pack(sequence, correct, sequence_facet)


def test_bkt_em_recovers_known_parameters():
    """600 learners per facet, 12–25 answers each: every parameter within 0.05 of the truth,
    starting from the plugin's defaults."""
    fitted, log_likelihood = bkt.fit(synthetic_bkt(), bkt.Params.filled(3, 0.3, 0.1, 0.2, 0.1), 3)
    for name in bkt.BOUNDS:
        error = np.abs(getattr(fitted, name) - getattr(TRUE_BKT, name))
        assert error.max() < 0.05, (name, getattr(fitted, name), getattr(TRUE_BKT, name))
    # EM never lowers the likelihood: the fit beats the defaults it started from.
    _, at_defaults = bkt.forward(synthetic_bkt(), bkt.Params.filled(3, 0.3, 0.1, 0.2, 0.1))
    assert log_likelihood > at_defaults


def test_bkt_em_recovery_can_fail():
    """The tolerance is meaningful: parameters that generated other data do not pass it."""
    fitted, _ = bkt.fit(synthetic_bkt(), bkt.Params.filled(3, 0.3, 0.1, 0.2, 0.1), 3)
    other = bkt.Params(*(np.roll(getattr(TRUE_BKT, k), 1) for k in bkt.BOUNDS))
    assert any(np.abs(getattr(fitted, k) - getattr(other, k)).max() >= 0.05 for k in bkt.BOUNDS)


def one_learner(answers):
    seqs = bkt.pack(np.zeros(len(answers), int), np.array(answers), np.array([0]))
    params = bkt.Params.filled(1, 0.3, 0.1, 0.2, 0.1)
    return [float(bkt.mastery_after(bkt.pack(np.zeros(n, int), np.array(answers[:n]),
                                              np.array([0])), params)[0])
            for n in range(1, len(answers) + 1)], seqs


def test_bkt_mastery_rises_for_right_answers_and_falls_for_wrong_ones():
    rising, _ = one_learner([True] * 6)
    falling, _ = one_learner([False] * 6)
    assert rising[0] > 0.3 and all(b > a for a, b in zip(rising, rising[1:], strict=False))
    assert falling[0] < 0.3 and all(b <= a for a, b in zip(falling, falling[1:], strict=False))
    assert rising[-1] > 0.95 and falling[-1] < 0.15


def test_incremental_filtering_equals_filtering_everything():
    """Mastery updated from new answers only, starting from the stored value, is the same
    as filtering the whole history: what makes the mastery job incremental."""
    answers = np.array([True, False, True, True, False, True, True])
    params = bkt.Params.filled(1, 0.3, 0.1, 0.2, 0.1)
    whole = bkt.mastery_after(bkt.pack(np.zeros(7, int), answers, np.array([0])), params)
    first = bkt.mastery_after(bkt.pack(np.zeros(4, int), answers[:4], np.array([0])), params)
    rest = bkt.mastery_after(bkt.pack(np.zeros(3, int), answers[4:], np.array([0])), params,
                             start=first)
    assert rest[0] == pytest.approx(whole[0])


def synthetic_irt(seed=3, learners=1500, items=40, a=None):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1, learners)
    a = rng.uniform(0.5, 2.0, items) if a is None else a
    b = rng.uniform(-2, 2, items)
    user, item = np.repeat(np.arange(learners), items), np.tile(np.arange(items), learners)
    correct = irt.simulate(rng, theta, a, b, user, item)
    return irt.Responses(user, item, correct, learners, items), theta, a, b


def test_irt_2pl_recovers_difficulty_and_discrimination():
    """1500 learners × 40 items: mean absolute error under 0.1 for b and a, every b within
    0.35, abilities correlate above 0.9 with the truth."""
    data, theta, a, b = synthetic_irt()
    cal = irt.fit(data)
    assert np.abs(cal.b - b).mean() < 0.1 and np.abs(cal.b - b).max() < 0.35
    assert np.abs(cal.a - a).mean() < 0.1 and np.corrcoef(cal.a, a)[0, 1] > 0.95
    assert np.corrcoef(cal.theta, theta)[0, 1] > 0.9


def test_irt_1pl_recovers_difficulty():
    data, _theta, _a, b = synthetic_irt(items=30, a=np.ones(30))
    cal = irt.fit(data, two_parameter=False)
    assert np.all(cal.a == 1)
    assert np.abs(cal.b - b).mean() < 0.1 and np.abs(cal.b - b).max() < 0.3


def test_incremental_irt_moves_only_free_items():
    data, _theta, _a, b = synthetic_irt(learners=800, items=20)
    full = irt.fit(data)
    free = np.zeros(20, bool)
    free[:5] = True
    start = irt.Calibration(a=full.a.copy(), b=full.b.copy(), theta=full.theta)
    start.b[:5] = 0.0  # forgotten: must come back near the full fit
    again = irt.fit(data, start=start, free_items=free)
    assert np.array_equal(again.b[5:], full.b[5:])
    assert np.abs(again.b[:5] - full.b[:5]).max() < 0.1


def test_ability_grows_with_right_answers():
    a, b = np.ones(5), np.linspace(-1, 1, 5)
    low = irt.ability(a, b, np.array([0, 0, 0, 0, 0], bool))
    mid = irt.ability(a, b, np.array([1, 1, 0, 0, 0], bool))
    high = irt.ability(a, b, np.array([1, 1, 1, 1, 1], bool))
    assert low < mid < high
