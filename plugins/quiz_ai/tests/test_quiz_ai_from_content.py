"""from_content: offline questions from real track steps, valid, deterministic, honest when the
text is too thin."""

import pytest
from lms_quiz_ai import FromContentGenerator, question_problems
from lms_quiz_ai.from_content import read
from quiz_ai_fakes import step_text

from lmscore.capabilities import GenerationError, GenerationRequest
from lmscore.testing.contracts import QuizGeneratorContract

CENTRE = "dp/projects/05-exploratory-analysis/steps/02-centre-and-spread.md"
JOINS = "dp/projects/02-joins-and-aggregation/steps/01-inner-and-outer-joins.md"
HTML = "fsd/projects/01-html-css-layout/steps/01-semantic-html.md"


def request(grounding, num=4, types=("mcq_single",), **fields):
    return GenerationRequest(title=fields.pop("title", "Quiz"), prompt=fields.pop("prompt", ""),
                             num_questions=num, types=types, grounding=grounding, **fields)


@pytest.fixture(scope="module")
def generator():
    return FromContentGenerator()


class TestFromContentContract(QuizGeneratorContract):
    @pytest.fixture
    def provider(self):
        return FromContentGenerator()

    @pytest.fixture
    def generation_request(self):
        return request(step_text(CENTRE), num=3)


@pytest.mark.parametrize("steps", [(CENTRE,), (JOINS,), (HTML,)])
@pytest.mark.parametrize("types", [("mcq_single",), ("mcq_single", "mcq_multi")])
def test_real_steps_give_valid_questions(generator, steps, types):
    req = request(step_text(*steps), num=5, types=types)
    questions = generator.generate(req)
    assert len(questions) == 5
    for q in questions:
        assert question_problems(q, types) == [], q
    assert len({q.prompt for q in questions}) == 5
    if len(types) == 2:
        assert {q.type for q in questions} == set(types)


def test_definition_questions_from_a_bullet_list(generator):
    questions = generator.generate(request(step_text(CENTRE), num=8))
    defined = {"the middle value when sorted": "median", "the most frequent value": "mode",
               "the sum divided by the count": "mean", "max − min": "range",
               "the typical distance from the mean": "standard deviation",
               "Q3 − Q1": "interquartile range (IQR)"}
    asked = [q for q in questions if "matches this description" in q.prompt]
    assert len(asked) >= 3
    for q in asked:
        answer = q.options[q.correct[0]]
        assert next(term for start, term in defined.items() if start in q.prompt) == answer
        # Distractors are other terms the material defines, never a variant of the answer.
        wrong = [v for k, v in q.options.items() if k not in q.correct]
        assert set(wrong) <= set(defined.values()) | {"percentiles", "right-skewed"}
        assert all(answer not in w and w not in answer for w in wrong)


def test_fill_in_the_blank_and_grouping(generator):
    questions = generator.generate(request(step_text(CENTRE), num=6,
                                           types=("mcq_single", "mcq_multi")))
    blank = next(q for q in questions if "_____" in q.prompt)
    assert blank.options[blank.correct[0]].casefold() not in blank.prompt.casefold()
    group = next(q for q in questions if q.type == "mcq_multi")
    assert "Measures of" in group.prompt and len(group.correct) >= 2


def test_deterministic_for_a_request(generator):
    req = request(step_text(CENTRE, HTML), num=6, types=("mcq_single", "mcq_multi"))
    assert generator.generate(req) == generator.generate(req)


def test_prompt_steers_towards_its_topic(generator):
    text = step_text(CENTRE, HTML)
    html = generator.generate(request(text, num=3, prompt="HTML landmarks and headings"))
    stats = generator.generate(request(text, num=3, prompt="median and spread of the data"))
    assert all("<" in q.explanation or "HTML" in q.explanation or "heading" in q.explanation
               for q in html)
    assert not any("`<" in v for q in stats for v in q.options.values())


def test_whole_bundled_track(generator):
    from pathlib import Path

    from quiz_ai_fakes import TRACKS
    steps = sorted(str(p.relative_to(TRACKS)) for p in (TRACKS / "fsd").glob(
        "projects/*/steps/*.md"))
    questions = generator.generate(request(step_text(*steps), num=20,
                                           types=("mcq_single", "mcq_multi")))
    assert len(questions) == 20 and Path(TRACKS).is_dir()
    assert all(question_problems(q, ("mcq_single", "mcq_multi")) == [] for q in questions)


def test_thin_text_is_refused_with_a_reason(generator):
    with pytest.raises(GenerationError, match=r"supports only \d question\(s\).*not 10"):
        generator.generate(request("A list is an ordered, mutable sequence of values in "
                                   "Python, written with **square brackets**.", num=10))
    with pytest.raises(GenerationError, match="choose a track"):
        generator.generate(request("", num=1))


def test_prompt_is_the_material_without_a_track(generator):
    text = step_text(CENTRE)
    assert len(generator.generate(request("", num=3, prompt=text))) == 3


def test_only_choice_types(generator):
    with pytest.raises(GenerationError, match="not short_answer"):
        generator.generate(request(step_text(CENTRE), types=("short_answer",)))


def test_reader_skips_code_and_practice_and_reads_tables():
    material = read(step_text(HTML, CENTRE), "en")
    texts = " ".join(p.text for p in material.sentences)
    assert "bikes.groupby" not in texts and "Take the page above" not in texts
    assert any(d.term == "`<nav>`" for d in material.definitions)
    assert material.headings["Common mistakes"] == 2
