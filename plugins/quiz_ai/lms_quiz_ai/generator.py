"""Quiz generation by a chat model: structured JSON, validated, retried with the problems."""

from __future__ import annotations

from typing import Any

from lmscore.capabilities import (
    GeneratedQuestion,
    GenerationError,
    GenerationRequest,
    QuizGenerator,
)

from .checks import (
    CHOICE_TYPES,
    MAX_EXPLANATION,
    MAX_OPTION,
    MAX_OPTIONS,
    MAX_PROMPT,
    MIN_OPTIONS,
    OPTION_KEYS,
    question_problems,
)
from .llm import DATA_RULES, ChatModel, LLMError, ask_json, data_block

DIFFICULTY = {1: "very easy (recall)", 2: "easy", 3: "medium", 4: "hard (application)",
              5: "very hard (analysis)"}

_OPTION = {"type": "object", "additionalProperties": False, "required": ["text", "correct"],
           "properties": {"text": {"type": "string"}, "correct": {"type": "boolean"}}}
_QUESTION = {
    "type": "object", "additionalProperties": False,
    "required": ["type", "prompt", "options", "explanation"],
    "properties": {"type": {"type": "string", "enum": list(CHOICE_TYPES)},
                   "prompt": {"type": "string"},
                   "options": {"type": "array", "items": _OPTION},
                   "explanation": {"type": "string"}},
}
SCHEMA = {"type": "object", "additionalProperties": False, "required": ["questions"],
          "properties": {"questions": {"type": "array", "items": _QUESTION}}}


def system_prompt(request: GenerationRequest) -> str:
    """The trusted instructions: everything the platform (not the trainer) decides."""
    return f"""You write multiple-choice quiz questions for a learning platform.
{DATA_RULES}
The data holds the quiz title, the trainer's topic or prompt, and source material (possibly
empty). Write questions about that topic; when source material is given, every question and
its right answer must be supported by it.

Reply with one JSON object only: {{"questions": [...]}} with exactly {request.num_questions}
questions. Each question is {{"type", "prompt", "options": [{{"text", "correct"}}],
"explanation"}}.
- type is one of: {", ".join(request.types)}. "mcq_single" has exactly one correct option;
  "mcq_multi" has at least one correct and at least one wrong option.
- {MIN_OPTIONS} to {MAX_OPTIONS} options (4 is typical), all different, none empty; wrong
  options are plausible to someone who has not learned the material.
- prompt at most {MAX_PROMPT} characters, each option at most {MAX_OPTION}, explanation (why
  the right options are right) at most {MAX_EXPLANATION}.
- Difficulty: {DIFFICULTY.get(request.difficulty, "medium")} on a 1-5 scale.
- Do not write "all of the above" or "none of the above"."""


def user_message(request: GenerationRequest, max_grounding_chars: int) -> str:
    return data_block({"title": request.title, "topic": request.prompt,
                       "source_material": request.grounding[:max_grounding_chars]})


def _question(raw: Any, types: tuple[str, ...]) -> tuple[GeneratedQuestion | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["it is not an object"]
    options = raw.get("options")
    if not isinstance(options, list) or not all(
            isinstance(o, dict) and isinstance(o.get("text"), str)
            and isinstance(o.get("correct"), bool) for o in options):
        return None, ['options must be a list of {"text": string, "correct": boolean}']
    if len(options) > MAX_OPTIONS:
        return None, [f"it has {len(options)} options; it needs {MIN_OPTIONS} to {MAX_OPTIONS}"]
    fields = {key: raw.get(key) for key in ("type", "prompt", "explanation")}
    if not all(isinstance(value, str) for value in fields.values()):
        return None, ["type, prompt and explanation must be strings"]
    keyed = dict(zip(OPTION_KEYS, options, strict=False))
    question = GeneratedQuestion(
        type=fields["type"], prompt=fields["prompt"].strip(),
        options={key: o["text"].strip() for key, o in keyed.items()},
        correct=tuple(key for key, o in keyed.items() if o["correct"]),
        explanation=fields["explanation"].strip())
    return question, question_problems(question, types)


def parse_questions(reply: Any, request: GenerationRequest
                    ) -> tuple[list[GeneratedQuestion] | None, list[str]]:
    """The model's reply as questions, or the problems to feed back."""
    raw = reply.get("questions") if isinstance(reply, dict) else None
    if not isinstance(raw, list):
        return None, ['the reply must be an object with a "questions" list']
    problems = []
    if len(raw) != request.num_questions:
        problems.append(f"there are {len(raw)} questions; exactly {request.num_questions} "
                        "are needed")
    questions = []
    for n, item in enumerate(raw, start=1):
        question, found = _question(item, request.types)
        problems += [f"question {n}: {problem}" for problem in found]
        questions.append(question)
    return questions, problems


class LLMQuizGenerator(QuizGenerator):
    """A generator named after its provider (``openai``, ``gemini``)."""

    def __init__(self, chat: ChatModel, max_retries: int, max_grounding_chars: int):
        self.name = chat.provider
        self.label = f"AI ({chat.label})"
        self.chat = chat
        self.max_retries = max_retries
        self.max_grounding_chars = max_grounding_chars

    def generate(self, request: GenerationRequest) -> list[GeneratedQuestion]:
        unsupported = sorted(set(request.types) - set(CHOICE_TYPES))
        if unsupported:
            raise GenerationError(f"The {self.name} generator writes single- and multiple-"
                                  f"choice questions only, not {', '.join(unsupported)}.")
        try:
            return ask_json(self.chat, system_prompt(request),
                            user_message(request, self.max_grounding_chars), SCHEMA, "quiz",
                            lambda reply: parse_questions(reply, request), self.max_retries)
        except LLMError as exc:
            raise GenerationError(str(exc)) from exc
