"""``code``: runs the learner's program against the instructor's tests in the configured
sandbox (``[code_grading] sandbox``); partial credit per test. See docs/code-grading.md.
Registered with the other core graders in :mod:`lmscore.defaults.grading`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..capabilities import Answer, GradableItem, Grader, GradeResult
from ..services import code_grading

if TYPE_CHECKING:
    from ..platform import Platform

MAX_CODE_CHARS = 200_000


class CodeGrader(Grader):
    name = "code"
    label = "Code, tested in a sandbox"
    item_types = ("code",)
    background = True

    def __init__(self, lms: Platform):
        self.lms = lms

    def grade(self, item: GradableItem, answer: Answer) -> GradeResult:
        code = answer.text or ""
        if not code.strip():
            raise ValueError("paste your code")
        if len(code) > MAX_CODE_CHARS:
            raise ValueError(f"keep your code under {MAX_CODE_CHARS:,} characters")
        # A deliverable keeps its tests in settings["code"]; a bank item in its answer.
        spec = code_grading.parse_spec(item.settings.get("code") or item.answer_key)
        settings = self.lms.settings.code_grading
        limits = code_grading.effective_limits(spec, settings.limits, settings.max_limits)
        return code_grading.grade_run(spec, code, self.lms.sandbox(), limits, label=item.id)

