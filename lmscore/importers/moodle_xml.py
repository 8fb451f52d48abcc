"""Moodle XML question files (https://docs.moodle.org/en/Moodle_XML_format).

Supported types: multichoice (``<single>true</single>`` → ``mcq_single`` with the
full-credit answer; otherwise ``mcq_multi`` with the answers' fractions), truefalse,
shortanswer (full-credit answers are accepted), numerical (the first full-credit answer and
its ``<tolerance>``) and essay (``theory``, the grader information as model answer). Other
types are reported as failures. HTML texts are turned into plain text.

A ``category`` question whose path has four parts once ``$course$`` and ``top`` are dropped
sets the facet path of the questions after it; otherwise they use the default.
External ids: the ``<idnumber>`` when set, else ``moodle-<slug of the name>``, else
``moodle-<hash of the question text>``. Explanation: ``<generalfeedback>``.
Positions are "question N" (the N-th ``<question>`` element, categories included).

The file is parsed with defusedxml: DTDs, entities and external references are refused, so
an XML bomb is a file error, not a hang.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..capabilities.content import ItemSpec
from .common import (
    BankFileError,
    ParseResult,
    category_facet,
    html_to_text,
    named_id,
    text_id,
)

KEYS = "ABCDEFGHIJ"


class QuestionError(ValueError):
    """One question cannot be read; the message is the reason reported for it."""


def _text(element: Element | None, path: str = "text") -> str:
    """The text of ``element/path``, HTML turned into text when the element says so."""
    if element is None:
        return ""
    node = element.find(path) if path else element
    raw = (node.text or "") if node is not None else ""
    if element.get("format") == "html":
        return html_to_text(raw)[0]
    return raw.strip()


def _fraction(answer: Element) -> float:
    try:
        return float(answer.get("fraction", "0")) / 100
    except ValueError:
        raise QuestionError(f"fraction {answer.get('fraction')!r} is not a number") from None


def _full_credit(answers: list[Element]) -> list[Element]:
    return [a for a in answers if _fraction(a) >= 1]


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise QuestionError(f"the {what} {text!r} is not a number") from None


def _fields(kind: str, question: Element) -> dict:
    answers = question.findall("answer")
    if kind == "multichoice":
        if len(answers) > len(KEYS):
            raise QuestionError(f"a choice question has at most {len(KEYS)} answers")
        options = {key: _text(a) for key, a in zip(KEYS, answers, strict=False)}
        fractions = {key: _fraction(a) for key, a in zip(KEYS, answers, strict=False)}
        if (question.findtext("single") or "true").strip().lower() in ("true", "1"):
            right = [k for k, f in fractions.items() if f >= 1]
            if len(right) != 1:
                raise QuestionError("a single-choice question needs one 100% answer")
            return {"type": "mcq_single", "options": options, "answer": right[0]}
        return {"type": "mcq_multi", "options": options,
                "answer": {k: f for k, f in fractions.items() if f}}
    if kind == "truefalse":
        right = _full_credit(answers)
        if len(right) != 1 or _text(right[0]).lower() not in ("true", "false"):
            raise QuestionError("a true/false question needs a 100% answer true or false")
        return {"type": "mcq_single", "options": {"A": "True", "B": "False"},
                "answer": "A" if _text(right[0]).lower() == "true" else "B"}
    if kind == "shortanswer":
        return {"type": "short_answer", "answer": [_text(a) for a in _full_credit(answers)]}
    if kind == "numerical":
        right = _full_credit(answers)
        if not right:
            raise QuestionError("a numerical question needs a 100% answer")
        tolerance = (right[0].findtext("tolerance") or "0").strip()
        return {"type": "numeric", "answer": {
            "value": _number(_text(right[0]), "answer"),
            "tolerance": _number(tolerance, "tolerance")}}
    if kind == "essay":
        return {"type": "theory", "answer": _text(question.find("graderinfo"))}
    raise QuestionError(f"{kind or 'untyped'} questions are not supported")


def parse(path: Path, facet_path_default: tuple[str, ...], name: str | None = None) -> ParseResult:
    name = name or path.name
    try:
        root = fromstring(path.read_bytes(), forbid_dtd=True)  # bytes: the declared encoding
    except DefusedXmlException as exc:
        raise BankFileError(name, f"refused XML ({type(exc).__name__}): DTDs and entities "
                                  "are not allowed") from None
    except ParseError as exc:
        line, column = exc.position
        raise BankFileError(name, f"not well-formed XML at line {line}, column {column}") \
            from None
    if root.tag != "quiz":
        raise BankFileError(name, f"a Moodle XML file has a <quiz> root, not <{root.tag}>")
    result = ParseResult()
    facet_path = tuple(facet_path_default)
    for number, question in enumerate(root.iter("question"), start=1):
        position, kind = f"question {number}", question.get("type", "")
        if kind == "category":
            category = (question.findtext("category/text") or "").strip()
            facet_path = category_facet(category) or tuple(facet_path_default)
            if facet_path == tuple(facet_path_default):
                result.warnings.append(f"{position}: category {category!r} does not have four "
                                       f"parts; its questions go to {'/'.join(facet_path)}")
            continue
        title = _text(question.find("name"))
        prompt = _text(question.find("questiontext"))
        idnumber = (question.findtext("idnumber") or "").strip()
        external_id = idnumber or (named_id("moodle", title) if title.strip()
                                   else text_id("moodle", prompt))
        try:
            fields = _fields(kind, question)
        except QuestionError as exc:
            result.fail(position, external_id, str(exc))
            continue
        tags = tuple(t for t in (tag.findtext("text") or "" for tag in
                                 question.findall("tags/tag")) if t.strip())
        result.add(position, ItemSpec(
            external_id=external_id, prompt=prompt, tags=tags, facet_path=facet_path,
            explanation=_text(question.find("generalfeedback")), **fields))
    return result
