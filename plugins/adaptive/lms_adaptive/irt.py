"""Item response theory: one- and two-parameter logistic models, vectorised with numpy.

P(right | θ) = 1 / (1 + exp(−a (θ − b))): ``b`` the item's difficulty, ``a`` its
discrimination (1 under 1PL), θ the learner's ability, θ ~ N(0, 1) in the population.

Items are calibrated by marginal maximum likelihood with EM (Bock & Aitkin 1981): abilities
are integrated out over fixed quadrature nodes, so the estimates stay consistent however few
items a learner answered (joint estimation of θ and item parameters is not). Each E-step
gives every learner a posterior over the nodes; each M-step fits every item's (a, b) to its
expected right/wrong counts per node with Newton steps, under weak priors b ~ N(0, 3²) and
log a ~ N(0, 1) that keep items everyone gets right (or wrong) finite. Learners' abilities are
the posterior means (EAP).

An incremental fit starts from stored item parameters and moves only the items flagged
``free``; the others anchor the scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

NODES = np.linspace(-4, 4, 31)
NODE_WEIGHTS = np.exp(-NODES**2 / 2) / np.exp(-NODES**2 / 2).sum()
B_SD, LOG_A_SD = 3.0, 1.0
A_BOUNDS, B_BOUNDS = (0.05, 5.0), (-6.0, 6.0)


@dataclass
class Responses:
    user: np.ndarray  # learner position per response
    item: np.ndarray  # item position per response
    correct: np.ndarray  # bool per response
    users: int
    items: int


@dataclass
class Calibration:
    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray  # EAP ability per learner


def probability(a, b, theta):
    return 1.0 / (1.0 + np.exp(-a * (theta - b)))


def _posterior(data: Responses, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per learner, the posterior weight of each quadrature node (users × nodes)."""
    p = np.clip(probability(a[:, None], b[:, None], NODES[None, :]), 1e-9, 1 - 1e-9)
    log_right, log_wrong = np.log(p), np.log1p(-p)
    log_post = np.tile(np.log(NODE_WEIGHTS), (data.users, 1))
    for q in range(len(NODES)):
        per_response = np.where(data.correct, log_right[data.item, q], log_wrong[data.item, q])
        log_post[:, q] += np.bincount(data.user, per_response, data.users)
    log_post -= log_post.max(axis=1, keepdims=True)
    post = np.exp(log_post)
    return post / post.sum(axis=1, keepdims=True)


def _expected_counts(data: Responses, post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item and node: expected answers and expected right answers."""
    answered = np.empty((data.items, len(NODES)))
    right = np.empty_like(answered)
    y = data.correct.astype(float)
    for q in range(len(NODES)):
        weight = post[data.user, q]
        answered[:, q] = np.bincount(data.item, weight, data.items)
        right[:, q] = np.bincount(data.item, weight * y, data.items)
    return answered, right


def _m_step(answered, right, a, b, two_parameter: bool, steps: int = 4):
    """Newton steps on each item's expected log posterior, vectorised over items."""
    log_a = np.log(a)
    for _ in range(steps):
        a = np.exp(log_a)
        p = probability(a[:, None], b[:, None], NODES[None, :])
        residual = right - answered * p  # d loglik / d(a(θ − b)) per node
        info = answered * p * (1 - p)
        grad_b = -(a[:, None] * residual).sum(1) - b / B_SD**2
        info_b = (a[:, None] ** 2 * info).sum(1) + 1 / B_SD**2
        b = np.clip(b + np.clip(grad_b / info_b, -1, 1), *B_BOUNDS)
        if two_parameter:
            spread = a[:, None] * (NODES[None, :] - b[:, None])
            grad = (spread * residual).sum(1) - log_a / LOG_A_SD**2
            info_a = (spread**2 * info).sum(1) + 1 / LOG_A_SD**2
            log_a = np.clip(log_a + np.clip(grad / info_a, -1, 1), *np.log(A_BOUNDS))
    return np.exp(log_a), b


def fit(data: Responses, *, two_parameter: bool = True, start: Calibration | None = None,
        free_items: np.ndarray | None = None, max_iterations: int = 200,
        tolerance: float = 1e-3, deadline: float | None = None) -> Calibration:
    """Calibrate every item (or only ``free_items``, a bool mask, starting from ``start``)
    until no parameter moves more than ``tolerance``, or ``deadline`` (``time.monotonic()``)
    passes: every EM iterate is a valid, improving calibration, so stopping early is safe."""
    if start is None:
        y = data.correct.astype(float)
        share = (np.bincount(data.item, y, data.items) + 0.5) / (
            np.bincount(data.item, minlength=data.items) + 1)
        a, b = np.ones(data.items), np.clip(-np.log(share / (1 - share)), *B_BOUNDS)
    else:
        a, b = start.a.copy(), start.b.copy()
    free = np.ones(data.items, bool) if free_items is None else free_items
    for _ in range(max_iterations):
        post = _posterior(data, a, b)
        new_a, new_b = _m_step(*_expected_counts(data, post), a, b, two_parameter)
        new_a, new_b = np.where(free, new_a, a), np.where(free, new_b, b)
        moved = max(np.max(np.abs(new_a - a), initial=0), np.max(np.abs(new_b - b), initial=0))
        a, b = new_a, new_b
        if moved < tolerance or (deadline is not None and time.monotonic() > deadline):
            break
    return Calibration(a=a, b=b, theta=_posterior(data, a, b) @ NODES)


def ability(a: np.ndarray, b: np.ndarray, correct: np.ndarray) -> float:
    """One learner's EAP θ from their answers to items with known a and b."""
    p = np.clip(probability(np.asarray(a)[:, None], np.asarray(b)[:, None], NODES[None, :]),
                1e-9, 1 - 1e-9)
    y = np.asarray(correct, dtype=bool)[:, None]
    log_post = np.log(NODE_WEIGHTS) + np.where(y, np.log(p), np.log1p(-p)).sum(0)
    post = np.exp(log_post - log_post.max())
    return float(post @ NODES / post.sum())


def simulate(rng: np.random.Generator, theta: np.ndarray, a: np.ndarray, b: np.ndarray,
             user: np.ndarray, item: np.ndarray) -> np.ndarray:
    """Synthetic right/wrong answers of ``user`` to ``item`` under the 2PL model."""
    return rng.random(len(user)) < probability(a[item], b[item], theta[user])
