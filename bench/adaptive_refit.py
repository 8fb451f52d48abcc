"""Time to refit the adaptive plugin's models on 1,000,000 attempts, next to a same-run
baseline of 100,000 (so the figure can be read on any machine: linear scaling means ×10).

Synthetic learners from known parameters (the tests' generator): BKT by EM over every
(learner, facet) sequence of 50 facets, and 2PL IRT by marginal maximum likelihood over 500
items. Prints seconds per fit and the parameter recovery error, never asserts. The database
is not involved: this is the numerical work the ``adaptive.refit`` job does per batch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from lms_adaptive import bkt, irt

FACETS, ITEMS, ANSWERS_PER_SEQUENCE, ANSWERS_PER_LEARNER = 50, 500, 20, 40


def bkt_case(rng: np.random.Generator, attempts: int) -> dict:
    true = bkt.Params(prior=rng.uniform(0.1, 0.6, FACETS), learn=rng.uniform(0.03, 0.3, FACETS),
                      guess=rng.uniform(0.05, 0.3, FACETS), slip=rng.uniform(0.05, 0.2, FACETS))
    sequences = attempts // ANSWERS_PER_SEQUENCE
    sequence_facet = rng.integers(0, FACETS, sequences)
    lengths = rng.integers(10, 2 * ANSWERS_PER_SEQUENCE - 9, sequences)
    sequence, correct = bkt.simulate(rng, true, sequence_facet, lengths)
    start = time.perf_counter()
    packed = bkt.pack(sequence, correct, sequence_facet)
    fitted, _ = bkt.fit(packed, bkt.Params.filled(FACETS, 0.3, 0.1, 0.2, 0.1), FACETS)
    seconds = time.perf_counter() - start
    error = max(float(np.abs(getattr(fitted, k) - getattr(true, k)).mean()) for k in bkt.BOUNDS)
    return {"attempts": int(len(sequence)), "seconds": seconds, "worst_mean_abs_error": error}


def irt_case(rng: np.random.Generator, attempts: int) -> dict:
    learners = attempts // ANSWERS_PER_LEARNER
    theta = rng.normal(0, 1, learners)
    a, b = rng.uniform(0.5, 2.0, ITEMS), rng.uniform(-2, 2, ITEMS)
    user = np.repeat(np.arange(learners), ANSWERS_PER_LEARNER)
    item = np.concatenate([rng.choice(ITEMS, ANSWERS_PER_LEARNER, replace=False)
                           for _ in range(learners)])
    correct = irt.simulate(rng, theta, a, b, user, item)
    start = time.perf_counter()
    cal = irt.fit(irt.Responses(user, item, correct, learners, ITEMS))
    seconds = time.perf_counter() - start
    return {"attempts": int(len(user)), "seconds": seconds,
            "b_mean_abs_error": float(np.abs(cal.b - b).mean()),
            "a_mean_abs_error": float(np.abs(cal.a - a).mean())}


def main(sizes: list[int]) -> dict:
    rng = np.random.default_rng(2026)
    out = {}
    for attempts in sizes:
        b_result, i_result = bkt_case(rng, attempts), irt_case(rng, attempts)
        out[attempts] = {"bkt": b_result, "irt": i_result}
        print(f"{attempts:>9,} attempts   BKT EM {b_result['seconds']:7.2f} s "
              f"(worst mean |error| {b_result['worst_mean_abs_error']:.3f})   "
              f"IRT 2PL {i_result['seconds']:7.2f} s (mean |error| b "
              f"{i_result['b_mean_abs_error']:.3f}, a {i_result['a_mean_abs_error']:.3f})")
    if len(sizes) == 2:
        small, large = sizes
        for model in ("bkt", "irt"):
            ratio = out[large][model]["seconds"] / out[small][model]["seconds"]
            print(f"{model.upper():>4}: ×{ratio:.1f} the time for "
                  f"×{large / small:.0f} the attempts")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--json", metavar="FILE", help="also write the figures here")
    args = parser.parse_args()
    figures = main(args.sizes)
    if args.json:
        import json
        from pathlib import Path

        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
