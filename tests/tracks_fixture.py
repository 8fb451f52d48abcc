"""A small track written to a temporary folder, for content and learning-flow tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

STEP = """---
title: {title}
estimated_minutes: 15
---
# {title}

Some **teaching** text with `code`.
"""


def write_track(root: Path, code: str = "TT", *, price: int = 0, projects: int = 2) -> Path:
    folder = root / code.lower()
    (folder / "projects").mkdir(parents=True)
    price_table = f"\n[price]\namount_minor = {price}\ncurrency = \"EUR\"\n" if price else ""
    (folder / "track.toml").write_text(textwrap.dedent(f"""\
        code = "{code}"
        name = "Test Track {code}"
        description = "A track for tests."
        duration_weeks = 4
        """) + price_table)
    for n in range(1, projects + 1):
        project = folder / "projects" / f"{n:02d}-project-{n}"
        (project / "steps").mkdir(parents=True)
        prereq = f"[{n - 1}]" if n > 1 else "[]"
        (project / "project.toml").write_text(textwrap.dedent(f"""\
            number = {n}
            title = "Project {n}"
            summary = "Build thing {n}."
            tech_stack = ["Python"]
            prerequisites = {prereq}
            estimated_hours = 3

            [[deliverables]]
            key = "report"
            title = "Report {n}"
            kind = "text"
            description = "Write what you did."

            [[deliverables]]
            key = "repo"
            title = "Repository {n}"
            kind = "repository"
            required = false
            """))
        for s in (1, 2):
            (project / "steps" / f"{s:02d}-step-{s}.md").write_text(
                STEP.format(title=f"Step {n}.{s}")
            )
    return folder


def write_bank(track_folder: Path, count: int = 6) -> None:
    """``count`` single-choice items, one short-answer and one numeric item."""
    import json

    bank = track_folder / "bank"
    bank.mkdir(exist_ok=True)
    items = [
        {"id": f"tt-q-{n:03d}", "type": "mcq_single", "question": f"Question {n}?",
         "options": {"A": f"right {n}", "B": f"wrong {n}"}, "answer": "A",
         "explanation": "A is right.", "difficulty": 2, "tags": ["t"]}
        for n in range(1, count + 1)
    ]
    items.append({"id": "tt-short-001", "type": "short_answer", "question": "Name the clause.",
                  "answer": ["Where", "where clause"], "difficulty": 3})
    items.append({"id": "tt-num-001", "type": "numeric", "question": "Pi to two places?",
                  "answer": {"value": 3.14, "tolerance": 0.005}, "difficulty": 3})
    (bank / "sql__querying__select__filtering.json").write_text(json.dumps(items))
