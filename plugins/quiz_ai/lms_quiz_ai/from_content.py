"""``from_content``: questions built offline from the track's own text (no key, no network).

The Markdown is read into sentences, definitions (``- **Term** — description`` bullets and the
rows of two-column tables) and key terms (bold phrases, inline code, and YAKE keyphrases that are
not everyday words according to wordfreq). From these come three kinds of question:

- definition (single choice): which term matches this description;
- fill in the blank (single choice): a sentence with a key term blanked out;
- grouping (multiple choice): which of these terms does the section "X" cover.

Wrong options are terms of the same kind (code with code, words with words) taken first from
the same section and from nearby text, so they are related but not the answer; terms that share
a lemma (simplemma) with the answer are never used. Everything is seeded by the request, so the
same request gives the same quiz.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import simplemma
import yake
from wordfreq import zipf_frequency

from lmscore.capabilities import (
    GeneratedQuestion,
    GenerationError,
    GenerationRequest,
    QuizGenerator,
)

from .checks import CHOICE_TYPES, MAX_OPTION, OPTION_KEYS, question_problems

BLANK = "_____"
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
DEFINITION = re.compile(r"^\*\*(?P<term>[^*]{1,60})\*\*\s*(?:—|–|-|:)\s*(?P<desc>.+)$")
TABLE_RULE = re.compile(r"^\|?\s*:?-{2,}")
BOLD = re.compile(r"\*\*([^*]+)\*\*|__([^_]+)__")
CODE = re.compile(r"`[^`]+`")
LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
EMPHASIS = re.compile(r"\*\*|__|(?<![\w*])\*(?=\S)|(?<=\S)\*(?![\w*])")
SENTENCE_END = re.compile(r"(?<!e\.g\.)(?<!i\.e\.)(?<!\bvs\.)(?<=[.!?])\s+(?=[A-Z`*\"“(])")
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
#: Single words at least this common (Zipf scale) are everyday words, not key terms.
EVERYDAY_ZIPF = 4.8
#: Keyphrases are clauses or verb and adverb forms, not terms, when they look like this
#: (English-only heuristics; they only drop candidates).
CLAUSE_WORDS = {"is", "are", "was", "were", "be", "been", "will", "can", "do", "does", "you"}
NOT_NOUN_ENDINGS = ("ed", "ly", "ing")
#: Weight of YAKE keyphrases (plus their YAKE score); emphasised terms weigh less.
KEYPHRASE = 0.3
#: Words at least this common ("the", "and", "of") carry no topic.
FUNCTION_ZIPF = 6.0
#: Sections whose sentences are tasks, not statements to test.
SKIPPED_SECTIONS = {"practice", "exercise", "exercises", "further reading", "references",
                    "resources"}
MIN_SENTENCE, MAX_SENTENCE = 40, 320
#: Options per question by difficulty (1–5).
OPTIONS_BY_DIFFICULTY = {1: 3, 2: 3, 3: 4, 4: 4, 5: 5}


def clean(markdown: str) -> str:
    """Inline Markdown as plain text; inline code keeps its backticks (it is code)."""
    parts = re.split(r"(`[^`]+`)", markdown)
    text = "".join(part if part.startswith("`") else EMPHASIS.sub("", LINK.sub(r"\1", part))
                   for part in parts)
    return " ".join(text.split())


def display(term: str) -> str:
    """A term as an option: "Median" → "median", but "IQR", "NumPy" and code stay as they are."""
    if len(term) > 1 and term[0].isupper() and term[1].islower() and not any(
            c.isupper() for c in term[1:].split(" ")[0]):
        return term[0].lower() + term[1:]
    return term


@dataclass(frozen=True)
class Term:
    text: str
    kind: str  # "code" | "word"
    section: str
    position: int
    weight: float  # lower is a better answer: definitions, then bold, code, keyphrases


@dataclass(frozen=True)
class Passage:
    text: str
    section: str
    position: int
    term: str | None = None  # set for a definition: the term this passage describes


@dataclass
class Material:
    """What the text offers, in reading order."""

    language: str
    sentences: list[Passage] = field(default_factory=list)
    definitions: list[Passage] = field(default_factory=list)
    terms: dict[str, Term] = field(default_factory=dict)
    #: How often each heading occurs: "Common mistakes" in every step names no one section.
    headings: Counter[str] = field(default_factory=Counter)
    _keys: dict[str, str] = field(default_factory=dict, repr=False)

    def key(self, text: str) -> str:
        """Terms are the same when their lemmas are ("joins" = "join", "Medians" = "median")."""
        if text not in self._keys:
            self._keys[text] = " ".join(simplemma.lemmatize(w, lang=self.language)
                                        for w in WORD.findall(text.casefold())) or text.casefold()
        return self._keys[text]

    def lemmas(self, text: str) -> set[str]:
        return set(self.key(text).split())

    def add_term(self, text: str, section: str, position: int, weight: float) -> None:
        text = text.strip()
        kind = "code" if CODE.fullmatch(text) else "word"
        letters = WORD.findall(text)
        if kind == "code" and not 4 <= len(text) <= 40 or len(text.split()) > 5:
            return
        # A defined term may be a common word ("mean"); otherwise an everyday word ("last")
        # is no key term. Code is code: `LAG` is not the word "lag".
        common = FUNCTION_ZIPF if weight == 0 else EVERYDAY_ZIPF
        if not letters or len(text) > min(60, MAX_OPTION) or (
                kind == "word" and len(letters) == 1
                and zipf_frequency(text, self.language) >= common):
            return
        key = text if kind == "code" else self.key(text)
        known = self.terms.get(key)
        if known is None or weight < known.weight:
            first = min(position, known.position) if known else position
            self.terms[key] = Term(display(text) if kind == "word" else text, kind, section,
                                   first, weight)

    @cached_property
    def section_text(self) -> dict[str, str]:
        texts: dict[str, list[str]] = {}
        for passage in self.sentences + self.definitions:
            texts.setdefault(passage.section, []).append(f"{passage.term or ''} {passage.text}")
        return {section: " ".join(parts).casefold() for section, parts in texts.items()}


def read(text: str, language: str) -> Material:
    material = Material(language)
    section, paragraph, in_fence, table_header, skipping = "", [], False, True, False
    position = 0

    def flush() -> None:
        nonlocal position
        joined = " ".join(paragraph).strip()
        paragraph.clear()
        if skipping:
            return
        for raw in SENTENCE_END.split(joined):
            position += 1
            for bold in BOLD.finditer(raw):
                material.add_term(clean(bold.group(1) or bold.group(2)), section, position, 0.1)
            for code in CODE.finditer(raw):
                material.add_term(code.group(0), section, position, 0.2)
            sentence = clean(raw)
            if MIN_SENTENCE <= len(sentence) <= MAX_SENTENCE and sentence[-1] in ".!?" \
                    and len(sentence.split()) >= 6 and sentence.count("(") == sentence.count(")"):
                material.sentences.append(Passage(sentence, section, position))

    def define(term: str, description: str) -> None:
        nonlocal position
        term, description = clean(term), clean(description)
        if not skipping and len(description.split()) >= 3 and len(description) <= MAX_SENTENCE:
            position += 1
            material.definitions.append(Passage(description, section, position, term))
            material.add_term(term, section, position, 0.0)

    for line in text.splitlines():
        stripped = line.strip()
        if FENCE.match(stripped):
            in_fence = not in_fence
            flush()
            continue
        if in_fence:
            continue
        if not stripped.startswith("|"):
            table_header = True
        heading = HEADING.match(stripped)
        if heading or not stripped:
            flush()
            if heading:
                name = clean(heading.group(1))
                material.headings[name] += 1
                seen = material.headings[name]
                section = name if seen == 1 else f"{name} ({seen})"
                skipping = name.casefold() in SKIPPED_SECTIONS
        elif stripped.startswith("|"):
            flush()
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if TABLE_RULE.match(stripped) or table_header:
                table_header = False  # the first row of a table names its columns
            elif len(cells) >= 2 and cells[0] and cells[1]:
                define(cells[0], cells[1])
        elif LIST_ITEM.match(line):
            flush()
            item = LIST_ITEM.sub("", line, count=1).strip()
            match = DEFINITION.match(item)
            if match:
                define(match["term"], match["desc"])
            paragraph.append(match["desc"] if match else item)
        else:
            paragraph.append(stripped)
    flush()
    _add_keyphrases(material)
    return material


def _add_keyphrases(material: Material) -> None:
    prose = "\n".join(p.text for p in material.sentences + material.definitions)
    if not prose:
        return
    extractor = yake.KeywordExtractor(lan=material.language, n=3, top=80, dedup_lim=0.8)
    positions = [(p.text.casefold(), p) for p in material.sentences]
    for phrase, score in extractor.extract_keywords(prose):
        words = phrase.casefold().split()
        if CLAUSE_WORDS & set(words) or words[-1].endswith(NOT_NOUN_ENDINGS):
            continue
        first = next((p for text, p in positions if phrase.casefold() in text), None)
        if first is not None:
            material.add_term(phrase, first.section, first.position, KEYPHRASE + float(score))


@dataclass(frozen=True)
class Candidate:
    question: GeneratedQuestion
    section: str
    answer_keys: frozenset[str]
    source: str  # the passage or section it came from: one question per source
    position: int
    weight: float
    relevance: int
    order: float  # seeded tie-break


class _Builder:
    def __init__(self, material: Material, request: GenerationRequest, rng: random.Random):
        self.material, self.request, self.rng = material, request, rng
        self.options = OPTIONS_BY_DIFFICULTY.get(request.difficulty, 4)
        # Content words of the trainer's prompt steer the choice; function words would not.
        self.focus = {lemma for lemma in material.lemmas(request.prompt)
                      if zipf_frequency(lemma, material.language) < FUNCTION_ZIPF
                      } if request.grounding else set()

    def _related(self, answers: Iterable[Term], count: int, avoid: str,
                 exclude_section: str | None = None) -> list[Term]:
        """``count`` wrong options like ``answers``: same kind, nearby first, never a variant
        of an answer and never a term that appears in ``avoid`` (the question's own text)."""
        answers = list(answers)
        first = answers[0]
        avoid = avoid.casefold()
        pool = [term for term in self.material.terms.values()
                if term.kind == first.kind and term.text.casefold() not in avoid
                and term.section != exclude_section
                and not any(self._variants(term, answer) for answer in answers)]
        size = len(first.text.split())
        # Emphasised terms (definitions, bold, code) make the best distractors for each other.
        pool.sort(key=lambda t: ((t.weight < KEYPHRASE) != (first.weight < KEYPHRASE),
                                 t.section != first.section,
                                 min(abs(len(t.text.split()) - size), 2),
                                 abs(t.position - first.position), t.text))
        nearest, rest = pool[: count * 2], pool[count * 2:]
        self.rng.shuffle(nearest)
        kept: list[Term] = []
        for term in nearest + rest:  # no two variants of each other ("join", "inner join")
            if not any(self._variants(term, other) for other in kept):
                kept.append(term)
                if len(kept) == count:
                    return kept
        return []

    def _variants(self, a: Term, b: Term) -> bool:
        la, lb = self.material.lemmas(a.text), self.material.lemmas(b.text)
        return la <= lb or lb <= la

    def _candidate(self, qtype: str, prompt: str, right: list[Term], wrong: list[Term],
                   explanation: str, section: str, source: str, position: int,
                   weight: float) -> Candidate | None:
        texts = [t.text for t in right + wrong]
        self.rng.shuffle(texts)
        options = dict(zip(OPTION_KEYS, texts, strict=False))
        right_texts = {t.text for t in right}
        question = GeneratedQuestion(
            type=qtype, prompt=prompt, options=options,
            correct=tuple(k for k, v in options.items() if v in right_texts),
            explanation=explanation, tags=("from_content",))
        if question_problems(question, self.request.types):
            return None
        relevance = len(self.focus & self.material.lemmas(f"{section} {prompt} {explanation}"))
        # A grouping question tests membership, not the terms themselves: it may share them.
        answers = frozenset(self.material.key(t.text) for t in right) if qtype == "mcq_single" \
            else frozenset()
        return Candidate(question, section, answers, source, position, weight, relevance,
                         self.rng.random())

    def _term(self, text: str) -> Term | None:
        kind = "code" if CODE.fullmatch(text) else "word"
        return self.material.terms.get(text if kind == "code" else self.material.key(text))

    def definitions(self) -> Iterable[Candidate]:
        for passage in self.material.definitions:
            term = self._term(passage.term or "")
            if term is None or self.material.lemmas(term.text) <= self.material.lemmas(
                    passage.text):
                continue  # the description names the term: it would give the answer away
            description = _blank(passage.text, term, BLANK)
            wrong = self._related([term], self.options - 1, description)
            if wrong:
                yield self._candidate(
                    "mcq_single", f"Which term matches this description?\n\n“{description}”",
                    [term], wrong, f"{term.text}: {passage.text}", passage.section,
                    f"p{passage.position}", passage.position, term.weight)

    def blanks(self) -> Iterable[Candidate]:
        for passage in self.material.sentences:
            folded = passage.text.casefold()
            inside = [t for t in self.material.terms.values()
                      if t.text.casefold() in folded and _occurs(passage.text, t)]
            for term in sorted(inside, key=lambda t: (t.weight, t.text))[:2]:
                blanked = _blank(passage.text, term, BLANK)
                if len(blanked.replace(BLANK, "").split()) < 5:
                    continue
                wrong = self._related([term], self.options - 1, blanked)
                if wrong:
                    yield self._candidate(
                        "mcq_single", f"Which term fills the blank?\n\n“{blanked}”", [term],
                        wrong, f"The material says: “{passage.text}”", passage.section,
                        f"p{passage.position}", passage.position, 0.5 + term.weight)
                    break

    def groups(self) -> Iterable[Candidate]:
        by_section: dict[str, list[Term]] = {}
        for term in self.material.terms.values():
            if term.weight < KEYPHRASE and term.section:
                by_section.setdefault(term.section, []).append(term)
        for section, terms in by_section.items():
            if self.material.headings[section] != 1:
                continue
            for kind in ("word", "code"):
                same = sorted((t for t in terms if t.kind == kind), key=lambda t: t.position)
                if len(same) < 2:
                    continue
                right = self.rng.sample(same, min(len(same), 2 if self.options <= 4 else 3))
                wrong = self._related(right, self.options + 1 - len(right),
                                      self.material.section_text.get(section, ""),
                                      exclude_section=section)
                if wrong:
                    listed = ", ".join(t.text for t in same)
                    yield self._candidate(
                        "mcq_multi", f"Which of the following does the material cover under "
                        f"“{section}”? Choose all that apply.", right, wrong,
                        f"Under “{section}” the material covers: {listed}.", section,
                        f"s{section}/{kind}", same[0].position, 0.2)


@lru_cache(maxsize=4096)
def _pattern(term: Term) -> re.Pattern[str]:
    if term.kind == "code":
        return re.compile(re.escape(term.text))
    return re.compile(rf"(?<![\w`]){re.escape(term.text)}(?![\w`])", re.IGNORECASE)


def _occurs(text: str, term: Term) -> bool:
    return bool(_pattern(term).search(text))


def _blank(text: str, term: Term, blank: str) -> str:
    return _pattern(term).sub(blank, text)


def _pick(candidates: list[Candidate], count: int, used: set) -> list[Candidate]:
    """Most relevant to the trainer's prompt first; within a relevance level, one question per
    section in turn so the quiz covers the material; never the same answer or passage twice."""
    picked: list[Candidate] = []
    ranked = sorted(candidates, key=lambda c: (-c.relevance, c.weight, c.order))
    levels = sorted({c.relevance for c in ranked}, reverse=True)
    for level in levels:
        queues: dict[str, list[Candidate]] = {}
        for c in ranked:
            if c.relevance == level:
                queues.setdefault(c.section, []).append(c)
        while len(picked) < count and any(queues.values()):
            for queue in queues.values():
                while queue:
                    c = queue.pop(0)
                    if c.source not in used and not (c.answer_keys & used):
                        picked.append(c)
                        used |= {c.source, *c.answer_keys}
                        break
                if len(picked) == count:
                    break
    return picked


def seed(request: GenerationRequest) -> int:
    data = [request.title, request.prompt, request.num_questions, list(request.types),
            request.difficulty, request.track_code, request.grounding]
    return int.from_bytes(hashlib.sha256(json.dumps(data).encode()).digest()[:8], "big")


class FromContentGenerator(QuizGenerator):
    """Questions from the grounding text (the track's steps), or from the prompt itself when
    no track is chosen. Raises ``GenerationError`` when the text supports fewer questions than
    asked, saying how many it can make: a short quiz nobody asked for is worse than a clear
    refusal the trainer can act on."""

    name = "from_content"
    label = "From the track's content (offline)"

    def __init__(self, language: str = "en"):
        self.language = language

    def generate(self, request: GenerationRequest) -> list[GeneratedQuestion]:
        unsupported = sorted(set(request.types) - set(CHOICE_TYPES))
        if unsupported:
            raise GenerationError("from_content writes single- and multiple-choice questions "
                                  f"only, not {', '.join(unsupported)}.")
        text = request.grounding or request.prompt
        if not text.strip():
            raise GenerationError("from_content needs text to work from: choose a track, or "
                                  "paste the material into the prompt.")
        rng = random.Random(seed(request))
        builder = _Builder(read(text, self.language), request, rng)
        pools = {"mcq_single": [*builder.definitions(), *builder.blanks()],
                 "mcq_multi": list(builder.groups()) if "mcq_multi" in request.types else []}
        pools = {t: [c for c in pool if c is not None] for t, pool in pools.items()}
        wanted = _split(request.num_questions, request.types)
        used: set = set()
        picked = [c for qtype, n in wanted.items() for c in _pick(pools[qtype], n, used)]
        for qtype in request.types:  # one type short: fill from the other
            picked += _pick(pools[qtype], request.num_questions - len(picked), used)
        if len(picked) < request.num_questions:
            raise GenerationError(
                f"The content supports only {len(picked)} question(s) of the requested types, "
                f"not {request.num_questions}: ask for fewer, choose a track with more text, "
                "or use an AI generator.")
        picked.sort(key=lambda c: c.position)  # in the order the material teaches it
        return [c.question for c in picked]


def _split(count: int, types: tuple[str, ...]) -> dict[str, int]:
    """How many of each type: all of one, or about a third multiple choice when both (picked
    first: grouping questions are the scarcer kind)."""
    if set(types) >= set(CHOICE_TYPES):
        multi = max(1, count // 3) if count > 1 else 0
        return {"mcq_multi": multi, "mcq_single": count - multi}
    return {types[0]: count}
