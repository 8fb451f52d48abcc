"""Bayesian Knowledge Tracing (Corbett & Anderson 1995), vectorised with numpy.

Per facet: ``prior`` P(known before the first answer), ``learn`` P(unknown → known at each
answer), ``guess`` P(right | unknown), ``slip`` P(wrong | known); no forgetting. Mastery is
P(known at the next answer) after filtering the learner's answers in order.

Fitting is Expectation–Maximisation (Baum–Welch) over every (learner, facet) sequence of every
facet at once. Sequences are laid out by column: column t holds the t-th answer of every
sequence at least t+1 long, sequences sorted longest first, so each column is a prefix of the
rows and memory stays proportional to the number of answers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bounds that keep the model identifiable (guess and slip under 0.5: a right answer means
#: more likely known) and away from degenerate 0/1 values.
BOUNDS = {"prior": (0.01, 0.99), "learn": (0.001, 0.6), "guess": (0.01, 0.4),
          "slip": (0.01, 0.4)}


@dataclass
class Params:
    """Arrays indexed by facet position (0 … facets − 1)."""

    prior: np.ndarray
    learn: np.ndarray
    guess: np.ndarray
    slip: np.ndarray

    @classmethod
    def filled(cls, facets: int, prior: float, learn: float, guess: float,
               slip: float) -> Params:
        return cls(*(np.full(facets, v, dtype=float) for v in (prior, learn, guess, slip)))

    def clipped(self) -> Params:
        return Params(*(np.clip(getattr(self, k), *BOUNDS[k]) for k in BOUNDS))


@dataclass
class Sequences:
    """Answers packed by column (see the module docstring)."""

    columns: list[np.ndarray]  # bool answers of column t, one per row (sequence)
    row_facet: np.ndarray  # facet position of each row
    row_sequence: np.ndarray  # the caller's sequence number of each row
    lengths: np.ndarray  # per row, longest first

    @property
    def count(self) -> int:
        return len(self.row_facet)


def pack(sequence: np.ndarray, correct: np.ndarray, sequence_facet: np.ndarray) -> Sequences:
    """``sequence`` (per answer, 0 … S−1, each sequence's answers contiguous and in time
    order), ``correct`` (per answer) and ``sequence_facet`` (per sequence)."""
    sequence = np.asarray(sequence, dtype=np.int64)
    lengths = np.bincount(sequence, minlength=len(sequence_facet))
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    position = np.arange(len(sequence)) - starts[sequence]
    order = np.argsort(-lengths, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    by_column = np.lexsort((rank[sequence], position))
    per_column = np.bincount(position, minlength=int(lengths.max(initial=0)))
    columns = np.split(np.asarray(correct, dtype=bool)[by_column], np.cumsum(per_column)[:-1])
    return Sequences(columns=columns if len(sequence) else [],
                     row_facet=np.asarray(sequence_facet)[order], row_sequence=order,
                     lengths=lengths[order])


def _emissions(answers: np.ndarray, guess: np.ndarray, slip: np.ndarray):
    """P(answer | unknown), P(answer | known)."""
    return np.where(answers, guess, 1 - guess), np.where(answers, 1 - slip, slip)


def forward(seqs: Sequences, params: Params, start: np.ndarray | None = None):
    """Filtered P(known | answers so far) per column, and the log-likelihood. ``start``
    (per row) replaces the prior: P(known) before the first answer given here."""
    prior, learn = params.prior[seqs.row_facet], params.learn[seqs.row_facet]
    guess, slip = params.guess[seqs.row_facet], params.slip[seqs.row_facet]
    predicted = prior if start is None else start
    filtered, log_likelihood = [], 0.0
    for t, answers in enumerate(seqs.columns):
        n = len(answers)
        if t:
            known = filtered[-1][:n]
            predicted = known + (1 - known) * learn[:n]
        e0, e1 = _emissions(answers, guess[:n], slip[:n])
        joint = predicted[:n] * e1
        evidence = joint + (1 - predicted[:n]) * e0
        filtered.append(joint / evidence)
        log_likelihood += float(np.log(evidence).sum())
    return filtered, log_likelihood


def mastery_after(seqs: Sequences, params: Params, start: np.ndarray | None = None) -> np.ndarray:
    """Per row: P(known at the next answer) after all its answers."""
    filtered, _ = forward(seqs, params, start)
    last = np.empty(seqs.count)
    for t, column in enumerate(filtered):  # each row's last column is at its length − 1
        ends = seqs.lengths[: len(column)] == t + 1
        last[: len(column)][ends] = column[ends]
    learn = params.learn[seqs.row_facet]
    return last + (1 - last) * learn


def em_step(seqs: Sequences, params: Params, facets: int) -> tuple[Params, float]:
    """One Baum–Welch iteration: new parameters and the log-likelihood of the old ones."""
    filtered, log_likelihood = forward(seqs, params)
    learn = params.learn[seqs.row_facet]
    guess, slip = params.guess[seqs.row_facet], params.slip[seqs.row_facet]
    sums = {k: np.zeros(facets) for k in
            ("first_known", "sequences", "learnt", "could_learn", "guess_n", "unknown",
             "slip_n", "known")}
    b0 = b1 = None
    for t in range(len(seqs.columns) - 1, -1, -1):
        answers, known = seqs.columns[t], filtered[t]
        n = len(answers)
        rows = seqs.row_facet[:n]
        beta0, beta1 = np.ones(n), np.ones(n)
        if b0 is not None:  # rows that have an answer at t + 1
            k = len(b0)
            e0, e1 = _emissions(seqs.columns[t + 1], guess[:k], slip[:k])
            stay, learnt, kept = (1 - known[:k]) * (1 - learn[:k]) * e0 * b0, \
                (1 - known[:k]) * learn[:k] * e1 * b1, known[:k] * e1 * b1
            total = stay + learnt + kept
            sums["learnt"] += np.bincount(rows[:k], learnt / total, facets)
            sums["could_learn"] += np.bincount(rows[:k], (stay + learnt) / total, facets)
            beta0[:k] = (1 - learn[:k]) * e0 * b0 + learn[:k] * e1 * b1
            beta1[:k] = e1 * b1
            scale = beta0[:k] + beta1[:k]
            beta0[:k] /= scale
            beta1[:k] /= scale
        g1 = known * beta1 / ((1 - known) * beta0 + known * beta1)
        g0 = 1 - g1
        sums["guess_n"] += np.bincount(rows, g0 * answers, facets)
        sums["unknown"] += np.bincount(rows, g0, facets)
        sums["slip_n"] += np.bincount(rows, g1 * ~answers, facets)
        sums["known"] += np.bincount(rows, g1, facets)
        if t == 0:
            sums["first_known"] += np.bincount(rows, g1, facets)
            sums["sequences"] += np.bincount(rows, minlength=facets)
        b0, b1 = beta0, beta1

    def ratio(num: str, den: str, old: np.ndarray) -> np.ndarray:
        return np.where(sums[den] > 0, sums[num] / np.maximum(sums[den], 1e-12), old)

    new = Params(prior=ratio("first_known", "sequences", params.prior),
                 learn=ratio("learnt", "could_learn", params.learn),
                 guess=ratio("guess_n", "unknown", params.guess),
                 slip=ratio("slip_n", "known", params.slip))
    return new.clipped(), log_likelihood


def fit(seqs: Sequences, start: Params, facets: int, *, max_iterations: int = 60,
        tolerance: float = 1e-4) -> tuple[Params, float]:
    """EM from ``start`` until no parameter moves more than ``tolerance``. Returns the fitted
    parameters and their log-likelihood."""
    params = start.clipped()
    for _ in range(max_iterations):
        new, _ = em_step(seqs, params, facets)
        moved = max(float(np.max(np.abs(getattr(new, k) - getattr(params, k)), initial=0))
                    for k in BOUNDS)
        params = new
        if moved < tolerance:
            break
    _, log_likelihood = forward(seqs, params)
    return params, log_likelihood


def simulate(rng: np.random.Generator, params: Params, sequence_facet: np.ndarray,
             lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic answers from known parameters: (sequence per answer, correct per answer),
    sequences contiguous and in order. Used by the tests and the benchmark."""
    facet = np.repeat(sequence_facet, lengths)
    sequence = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    position = np.arange(lengths.sum()) - np.repeat(starts, lengths)
    # When each learner comes to know the facet: at the start (prior), else after a
    # geometric number of answers (learn).
    knows_first = rng.random(len(lengths)) < params.prior[sequence_facet]
    learnt_after = rng.geometric(params.learn[sequence_facet])
    known_from = np.where(knows_first, 0, learnt_after)
    known = position >= np.repeat(known_from, lengths)
    u = rng.random(len(facet))
    correct = np.where(known, u >= params.slip[facet], u < params.guess[facet])
    return sequence, correct
