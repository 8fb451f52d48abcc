"""The core graders: ``choice``, ``short_answer``, ``numeric``, ``manual`` and ``code``
(:mod:`lmscore.defaults.code_grader`).

``choice``: multiple-choice grading.

Single answer: all or nothing. Multiple answers: the answer key is either a list of right
options (they share +100 %, the wrong ones share −100 %) or explicit fractions per option
(``{"A": 0.5, "B": 0.5, "C": -1}``); the selected fractions are summed and clamped to 0–1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..capabilities import Answer, GradableItem, Grader, GradeResult
from ..hookspecs import hookimpl
from .code_grader import CodeGrader


def option_fractions(item: GradableItem) -> dict[str, float]:
    key = item.answer_key
    if isinstance(key, Mapping):
        return {str(k): float(v) for k, v in key.items()}
    right = {key} if isinstance(key, str) else {str(k) for k in key or ()}
    wrong = set(item.options) - right
    fractions = {k: 1.0 / len(right) for k in right} if right else {}
    fractions.update({k: -1.0 / len(wrong) for k in wrong} if wrong else {})
    return fractions


class ChoiceGrader(Grader):
    name = "choice"
    label = "Multiple choice"
    item_types = ("mcq_single", "mcq_multi")

    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        unknown = [k for k in answer.selected if k not in item.options]
        if unknown:
            raise ValueError(f"no option {', '.join(map(repr, unknown))} in this question")
        selected = set(answer.selected)
        fractions = option_fractions(item)
        # Named by their text: learners never see the keys, and options may be shuffled.
        right = [item.options.get(k, k) for k in sorted(k for k, f in fractions.items() if f > 0)]
        named = "; ".join(f"“{text}”" for text in right)
        if item.type == "mcq_single":
            if len(selected) > 1:
                raise ValueError("choose exactly one option")
            score = 1.0 if selected and fractions.get(next(iter(selected)), 0) > 0 else 0.0
        else:
            score = min(1.0, max(0.0, sum(fractions.get(k, 0.0) for k in selected)))
            score = round(score, 6)
        if score >= 1.0:
            feedback = "Correct."
        elif score > 0:
            feedback = f"Partly correct. The right options: {named}."
        else:
            feedback = f"Incorrect. The right option{'s' if len(right) > 1 else ''}: {named}."
        return GradeResult(score=score, max_score=1.0, feedback=feedback)




def _normalise(text: str) -> str:
    return " ".join(text.casefold().split())


class ShortAnswerGrader(Grader):
    """Case- and space-insensitive match against the accepted answers; an accepted answer
    written ``/regex/`` is matched as a full regular expression."""

    name = "short_answer"
    label = "Short answer"
    item_types = ("short_answer",)

    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        given = _normalise(answer.text or "")
        if not given:
            raise ValueError("type an answer")
        accepted = item.answer_key if isinstance(item.answer_key, list) else [item.answer_key]
        for candidate in accepted:
            candidate = str(candidate)
            if len(candidate) > 2 and candidate.startswith("/") and candidate.endswith("/"):
                if re.fullmatch(candidate[1:-1], given, flags=re.IGNORECASE):
                    return GradeResult(1.0, 1.0, "Correct.")
            elif _normalise(candidate) == given:
                return GradeResult(1.0, 1.0, "Correct.")
        shown = next((str(a) for a in accepted if not str(a).startswith("/")), "")
        feedback = f"Incorrect. Accepted answer: {shown}." if shown else "Incorrect."
        return GradeResult(0.0, 1.0, feedback)


class NumericGrader(Grader):
    """Right when within ``tolerance`` (absolute) or ``relative`` (a fraction of the value)."""

    name = "numeric"
    label = "Numeric"
    item_types = ("numeric",)

    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        if answer.value is None:
            raise ValueError("enter a number")
        key = item.answer_key or {}
        expected = float(key["value"])
        tolerance = float(key.get("tolerance", 0.0))
        if "relative" in key:
            tolerance = max(tolerance, abs(expected) * float(key["relative"]))
        if abs(float(answer.value) - expected) <= tolerance + 1e-12:
            return GradeResult(1.0, 1.0, "Correct.")
        return GradeResult(0.0, 1.0, f"Incorrect. The answer is {expected:g}.")


class ManualGrader(Grader):
    """Free-text answers (theory, scenario) wait for a trainer."""

    name = "manual"
    label = "Trainer review"
    item_types = ("theory", "scenario")

    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        if not (answer.text or "").strip():
            raise ValueError("write an answer")
        return GradeResult(0.0, 1.0, "Waiting for a trainer's review.", needs_manual_review=True)


@hookimpl
def lms_register_graders(lms):
    return [ChoiceGrader(), ShortAnswerGrader(), NumericGrader(), ManualGrader(), CodeGrader(lms)]
