"""The rules every generated question must pass, whoever wrote it (a model or from_content).

They are stricter than the core's ``item_problem`` (which they also run): at most six options,
length limits, no blank option, options distinct even when case and spacing differ.
"""

from __future__ import annotations

from lmscore.capabilities import GeneratedQuestion
from lmscore.capabilities.content import ItemSpec
from lmscore.services.banks import item_problem

CHOICE_TYPES = ("mcq_single", "mcq_multi")
OPTION_KEYS = "ABCDEF"
MIN_OPTIONS, MAX_OPTIONS = 2, len(OPTION_KEYS)
MAX_PROMPT = 1000
MAX_OPTION = 300
MAX_EXPLANATION = 2000


def _folded(text: str) -> str:
    return " ".join(text.split()).casefold()


def question_problems(question: GeneratedQuestion, types: tuple[str, ...]) -> list[str]:
    """Why ``question`` cannot become a draft question (empty when it can)."""
    problems = []
    if question.type not in types:
        problems.append(f"type {question.type!r} is not one of the allowed types "
                        f"({', '.join(types)})")
    if not question.prompt.strip():
        problems.append("the question text is empty")
    elif len(question.prompt) > MAX_PROMPT:
        problems.append(f"the question text is longer than {MAX_PROMPT} characters")
    texts = list(question.options.values())
    if not MIN_OPTIONS <= len(texts) <= MAX_OPTIONS:
        problems.append(f"it has {len(texts)} options; it needs {MIN_OPTIONS} to {MAX_OPTIONS}")
    if any(not text.strip() for text in texts):
        problems.append("an option is empty")
    if any(len(text) > MAX_OPTION for text in texts):
        problems.append(f"an option is longer than {MAX_OPTION} characters")
    if len({_folded(text) for text in texts}) != len(texts):
        problems.append("two options have the same text")
    correct = [key for key in question.correct if key in question.options]
    if len(correct) != len(question.correct):
        problems.append("a correct answer is not one of the options")
    if question.type == "mcq_single" and len(question.correct) != 1:
        problems.append(f"a single-choice question has exactly one correct option, "
                        f"not {len(question.correct)}")
    if question.type == "mcq_multi" and not question.correct:
        problems.append("a multiple-choice question needs at least one correct option")
    if len(question.explanation) > MAX_EXPLANATION:
        problems.append(f"the explanation is longer than {MAX_EXPLANATION} characters")
    if problems:
        return problems
    answer = question.correct[0] if question.type == "mcq_single" else list(question.correct)
    core = item_problem(ItemSpec(external_id="generated", type=question.type,
                                 prompt=question.prompt, options=dict(question.options),
                                 answer=answer, facet_path=("q", "q", "q", "q")))
    return [core] if core else []
