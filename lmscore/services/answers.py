"""What an answer must hold for its item's type. Quizzes and the review queue refuse the same
wrong shapes with the same messages, each naming the field to send: a multiple-choice
question answered with text is an error to fix, not a wrong answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import ValidationFailed

CHOICE_TYPES = ("mcq_single", "mcq_multi")


def check_shape(item_type: str, options: Mapping[str, str] | None, *,
                selected: Sequence[str] | None, text: str | None, value: float | None) -> None:
    """Raise :class:`ValidationFailed` naming ``selected``, ``value`` or ``text`` unless the
    answer has what ``item_type`` is answered with (``selected`` None: none sent)."""
    if item_type in CHOICE_TYPES:
        if selected is None:
            raise _invalid("selected", "Choose an option.")
        unknown = [k for k in selected if k not in (options or {})]
        if unknown:
            raise _invalid("selected", f"No option {unknown[0]!r} in this question.")
        if item_type == "mcq_single" and len(selected) > 1:
            raise _invalid("selected", "Choose one option.")
    elif item_type == "numeric":
        if value is None:
            raise _invalid("value", "Enter a number.")
    elif text is None:
        raise _invalid("text", "Write an answer.")


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": {field: [message]}})
