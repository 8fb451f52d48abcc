"""The tracks shipped in ``tracks/``, as learners read them."""

from __future__ import annotations

import json
import re
from pathlib import Path

TRACKS = Path(__file__).resolve().parents[1] / "tracks"
#: An option named by its key: "(B)", "(A, C)", "option D", "C checks …", "so B is wrong".
#: Learners never see the keys (the review card numbers its options, quizzes may shuffle them),
#: so questions and explanations name an option by what it says.
OPTION_KEY = re.compile(r"\([A-F](, ?[A-F])*\)|\b[Oo]ptions? [A-F]\b|\bso [A-F] is\b"
                        r"|(?:^|[.;:] )[A-F] (?:is|are|checks|can|fails|makes)\b")


def test_questions_and_explanations_name_options_by_their_text():
    named_by_key = [
        (path.name, item["id"], match.group())
        for path in sorted(TRACKS.glob("*/bank/*.json"))
        for item in json.loads(path.read_text())
        for field in ("question", "explanation")
        if (match := OPTION_KEY.search(item.get(field) or ""))
    ]
    assert len(list(TRACKS.glob("*/bank/*.json"))) > 10  # the bundled banks were found
    assert named_by_key == []
