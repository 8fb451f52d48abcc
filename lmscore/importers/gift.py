"""Moodle GIFT files (https://docs.moodle.org/en/GIFT_format).

Supported: multiple choice (``=right ~wrong`` is single choice, as in Moodle; answers with
weights only, ``~%50%a ~%-100%b``, become ``mcq_multi`` with fractions; several ``=``
answers, ``mcq_multi`` with all of them right), true/false (``{T}``, ``{FALSE}``), short
answer (``{=a =b}``, only full-credit answers are accepted), numeric (``{#3.14:0.01}``,
``{#1..5}``, ``{#=x:t =%50%y:u}``: the first full-credit answer), essays (``{}``, as
``theory``), missing-word questions (text after the answer block; the block shows as _____),
``::titles::``, ``//`` comment lines, ``#feedback`` per answer and ``####general feedback``,
format markers (``[html]`` is turned into text), ``$CATEGORY:`` lines and the escapes
``\\: \\= \\~ \\# \\{ \\} \\\\ \\n``. Matching questions are reported as failures; text
without an answer block (a description) is skipped with a warning.

Facet path: a ``$CATEGORY:`` path with four parts once ``$course$`` and ``top`` are dropped
(``$course$/top/sql/joins/inner/syntax``) sets the facet path of the questions that follow;
any other category, or none, uses the default.

External ids: ``gift-<slug of the title>`` when the question has a title, else
``gift-<hash of the question text>`` (whitespace and case ignored), so re-importing the same
file finds the same items: editing a titled question's text or any question's answers
updates it in place; editing an untitled question's text makes it a new item.

Explanation: the general feedback, else the feedback of the right answer(s).
Positions are "line N", the first line of the question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..capabilities.content import ItemSpec
from .common import ParseResult, category_facet, html_to_text, named_id, read_text, text_id

# Escaped characters are swapped for private-use code points while parsing.
ESCAPES = {"\\\\": "\ue000", "\\:": "\ue001", "\\=": "\ue002", "\\~": "\ue003",
           "\\#": "\ue004", "\\{": "\ue005", "\\}": "\ue006"}
UNESCAPE = str.maketrans({v: k[1] for k, v in ESCAPES.items()})
ESCAPE_RE = re.compile(r"\\[\\:=~#{}]")
TITLE_RE = re.compile(r"^::(.*?)::", re.S)
FORMAT_RE = re.compile(r"^\s*\[(html|moodle|plain|markdown)\]", re.I)
WEIGHT_RE = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
ANSWER_RE = re.compile(r"([=~])([^=~]*)")
TRUE_FALSE = {"T": True, "TRUE": True, "F": False, "FALSE": False}
KEYS = "ABCDEFGHIJ"


class GiftError(ValueError):
    """One question cannot be read; the message is the reason reported for it."""


def _escape(text: str) -> str:
    return ESCAPE_RE.sub(lambda m: ESCAPES[m.group()], text)


def _clean(text: str) -> str:
    return text.replace("\\n", "\n").translate(UNESCAPE).strip()


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each blank-line separated block, comments dropped."""
    start, lines = 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith("//"):
            continue
        if line.strip():
            start = start or number
            lines.append(line)
        elif lines:
            yield start, lines
            start, lines = 0, []
    if lines:
        yield start, lines


def _split_feedback(text: str) -> tuple[str, str]:
    answer, _, feedback = text.partition("#")
    return answer, _clean(feedback)


def _weighted(text: str) -> tuple[float | None, str]:
    match = WEIGHT_RE.match(text.strip())
    if match is None:
        return None, text
    return float(match.group(1)), text.strip()[match.end():]


def _number(text: str) -> float:
    try:
        return float(_clean(text))
    except ValueError:
        raise GiftError(f"{_clean(text)!r} is not a number") from None


def _numeric(body: str) -> tuple[dict, str]:
    tokens = ANSWER_RE.findall(body) if body.lstrip().startswith("=") else [("=", body)]
    for _mark, token in tokens:
        weight, token = _weighted(token)
        value, feedback = _split_feedback(token)
        if weight not in (None, 100):
            continue
        if ".." in value:
            low, high = (_number(v) for v in value.split("..", 1))
            return {"value": (low + high) / 2, "tolerance": abs(high - low) / 2}, feedback
        value, _, tolerance = value.partition(":")
        return {"value": _number(value),
                "tolerance": _number(tolerance) if tolerance.strip() else 0.0}, feedback
    raise GiftError("a numeric question needs a full-credit answer")


def _answers(body: str, warnings: list[str]) -> dict:
    """The type, options, answer and explanation of an answer block (escapes still swapped).
    Like Moodle: choices with one "=" are single choice; without "=" (weights only), or with
    several, multiple choice."""
    body, _, general = body.partition("####")
    general, body = _clean(general), body.strip()
    if not body:
        return {"type": "theory", "answer": "", "explanation": general}
    if body.startswith("#"):
        answer, feedback = _numeric(body[1:])
        return {"type": "numeric", "answer": answer, "explanation": general or feedback}
    head, *feedbacks = body.split("#")
    if head.strip().upper() in TRUE_FALSE:
        # {T#feedback when answered wrong#feedback when answered right}
        right = _clean(feedbacks[1]) if len(feedbacks) > 1 else ""
        return {"type": "mcq_single", "options": {"A": "True", "B": "False"},
                "answer": "A" if TRUE_FALSE[head.strip().upper()] else "B",
                "explanation": general or right}
    if "->" in body:
        raise GiftError("matching questions are not supported")
    tokens = ANSWER_RE.findall(body)
    if not tokens or body[0] not in "=~":
        raise GiftError("answers start with = (right) or ~ (wrong)")
    rights = [t for mark, t in tokens if mark == "="]
    if not any(mark == "~" for mark, _ in tokens):
        accepted = [_clean(_split_feedback(_weighted(t)[1])[0]) for t in rights
                    if _weighted(t)[0] in (None, 100)]
        feedback = " ".join(f for f in (_split_feedback(t)[1] for t in rights) if f)
        return {"type": "short_answer", "answer": accepted, "explanation": general or feedback}
    if len(tokens) > len(KEYS):
        raise GiftError(f"a choice question has at most {len(KEYS)} answers")
    options, fractions, right_feedback = {}, {}, []
    weighted = any(_weighted(t)[0] is not None for _m, t in tokens)
    for key, (mark, token) in zip(KEYS, tokens, strict=False):
        weight, token = _weighted(token)
        text, feedback = _split_feedback(token)
        options[key] = _clean(text)
        fraction = (weight if weight is not None else 100 if mark == "=" else 0) / 100
        if fraction:
            fractions[key] = fraction
        if fraction > 0 and feedback:
            right_feedback.append(feedback)
    explanation = general or " ".join(right_feedback)
    if len(rights) == 1:
        if weighted:
            warnings.append("single choice: the partial credit of other answers is dropped")
        answer = KEYS[next(i for i, (mark, _t) in enumerate(tokens) if mark == "=")]
        return {"type": "mcq_single", "options": options, "answer": answer,
                "explanation": explanation}
    answer = fractions if weighted else sorted(fractions)  # several "=": all right
    return {"type": "mcq_multi", "options": options, "answer": answer,
            "explanation": explanation}


def _question(text: str, warnings: list[str]) -> tuple[str, str, dict]:
    """(title, prompt, answer fields) of one question's text (escapes swapped)."""
    title = ""
    if match := TITLE_RE.match(text.strip()):
        title, text = _clean(match.group(1)), text.strip()[match.end():]
    is_html = bool((fmt := FORMAT_RE.match(text)) and fmt.group(1).lower() == "html")
    text = FORMAT_RE.sub("", text, count=1)
    start = text.find("{")
    if start < 0:
        return title, _clean(text), {}
    end = text.find("}", start)
    if end < 0:
        raise GiftError("the answer block {…} is not closed")
    before, after = _clean(text[:start]), _clean(text[end + 1:])
    prompt = f"{before} _____ {after}".strip() if after else before
    if is_html:
        prompt = html_to_text(prompt)[0]
    return title, prompt, _answers(text[start + 1:end], warnings)


def parse(path: Path, facet_path_default: tuple[str, ...], name: str | None = None) -> ParseResult:
    name = name or path.name
    result = ParseResult()
    facet_path = tuple(facet_path_default)
    for line, lines in _blocks(_escape(read_text(path, name))):
        position = f"line {line}"
        if lines[0].lstrip().startswith("$CATEGORY:"):
            category = _clean(lines[0].split(":", 1)[1])
            facet_path = category_facet(category) or tuple(facet_path_default)
            if facet_path == tuple(facet_path_default):
                result.warnings.append(f"{position}: category {category!r} does not have four "
                                       f"parts; its questions go to {'/'.join(facet_path)}")
            lines = lines[1:]
            if not lines:
                continue
        text = "\n".join(lines)
        notes: list[str] = []
        try:
            title, prompt, fields = _question(text, notes)
        except GiftError as exc:
            title = TITLE_RE.match(text.strip())
            external_id = named_id("gift", _clean(title.group(1))) if title else ""
            result.fail(position, external_id, str(exc))
            continue
        external_id = named_id("gift", title) if title else text_id("gift", prompt)
        if not fields:
            result.warnings.append(f"{position}: {external_id} has no answer block "
                                   f"(a description): skipped")
            continue
        result.warnings.extend(f"{position}: {external_id}: {note}" for note in notes)
        result.add(position, ItemSpec(external_id=external_id, prompt=prompt,
                                      facet_path=facet_path, **fields))
    return result
