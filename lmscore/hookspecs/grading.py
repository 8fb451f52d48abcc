"""Graders and quiz generators."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import hookspec

if TYPE_CHECKING:
    from ..capabilities import Grader, QuizGenerator
    from ..platform import Platform


@hookspec
def lms_register_graders(lms: Platform) -> list[Grader] | None:
    """Return graders to register by their ``name``.

    Called once per app at start-up. An item or deliverable names its grader (or gets the
    grader whose ``item_types`` list its type); all graders are active at once. The core
    registers ``choice``.
    """


@hookspec
def lms_register_quiz_generators(lms: Platform) -> list[QuizGenerator] | None:
    """Return quiz generators to register by their ``name``.

    Called once per app at start-up. Trainers pick a generator by name when they ask for a
    generated quiz; generation runs in a background job, so ``generate`` may be slow.
    """
