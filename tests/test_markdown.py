"""Markdown comes out safe wherever it is written: step content, learner text, trainer
feedback."""

import re

import pytest

from lmscore.markdown import render

EVIL = """\
# Title <script>alert("s")</script>

<img src=x onerror=alert(1)> <svg onload=alert(2)>
<a href="https://x.example" onclick="alert(3)">raw link</a>

[js](javascript:alert(4)) [mixed](JaVaScRiPt:alert(5)) [entity](&#106;avascript:alert(6))
[data](data:text/html;base64,PHNjcmlwdD4=) [vb](vbscript:msgbox) ![img](javascript:alert(7))
<javascript:alert(8)> [ftp](ftp://files.example/x)

```python" onmouseover="alert(9)
print("hi")
```
"""


def assert_safe(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered and "<svg" not in lowered and "<img src=x" not in lowered
    # No event-handler attribute on any real tag (escaped text like &lt;img … is harmless).
    for tag in re.findall(r"<[a-z][^>]*>", lowered):
        assert not re.search(r"\son\w+\s*=", tag), tag
    for href in re.findall(r'(?:href|src)="([^"]*)"', lowered):
        assert href.startswith(("http://", "https://", "mailto:")), href


def test_dangerous_markdown_is_neutralised():
    html = str(render(EVIL))
    assert_safe(html)
    assert "&lt;script&gt;" in html  # raw HTML is shown as text, not dropped silently


def test_second_line_of_defence_strips_what_the_parser_lets_through():
    # markdown-it accepts ftp: links; the sanitiser keeps the text and drops the href.
    assert str(render("[x](ftp://host/file)")) == (
        '<p><a rel="nofollow noopener noreferrer">x</a></p>\n')


@pytest.mark.parametrize("source, expected", [
    ("**bold** and `code`", "<p><strong>bold</strong> and <code>code</code></p>\n"),
    ("[site](https://example.org)",
     '<p><a href="https://example.org" rel="nofollow noopener noreferrer">site</a></p>\n'),
    ("```sql\nSELECT 1;\n```", '<pre><code class="language-sql">SELECT 1;\n</code></pre>\n'),
    ("| a |\n|--:|\n| 1 |", None),
    ("", ""),
])
def test_ordinary_markdown_still_renders(source, expected):
    html = str(render(source))
    if expected is None:
        assert '<th style="text-align:right">a</th>' in html
    else:
        assert html == expected


def test_step_content_learner_text_and_feedback_are_safe_through_the_api(api_as, api_client,
                                                                          make_user, jobs):
    admin = api_as("admin")
    admin.post("/api/v1/tracks", json={"code": "MD", "name": "Markdown"})
    project = admin.post("/api/v1/tracks/MD/projects", json={"number": 1, "title": "P"}).json
    admin.post(f"/api/v1/projects/{project['id']}/steps",
               json={"number": 1, "title": "Evil", "body_markdown": EVIL})
    deliverable = admin.post(f"/api/v1/projects/{project['id']}/deliverables",
                             json={"key": "essay", "title": "Essay", "kind": "text"}).json

    learner = api_client(make_user("student"))
    learner.post("/api/v1/tracks/MD/enrol")
    [step] = learner.get(f"/api/v1/projects/{project['id']}").json["steps"]
    assert_safe(step["body_html"])

    sub = learner.post("/api/v1/submissions",
                       json={"deliverable_id": deliverable["id"], "text": EVIL}).json
    jobs.drain()
    detail = learner.get(f"/api/v1/submissions/{sub['id']}").json
    assert detail["text"] == EVIL  # stored as written; only the HTML is cleaned
    assert_safe(detail["text_html"])

    review = api_as("trainer").post(f"/api/v1/submissions/{sub['id']}/review",
                                    json={"decision": "changes_requested", "feedback": EVIL})
    assert review.status_code == 201
    assert_safe(review.json["feedback_html"])
    assert_safe(learner.get(f"/api/v1/submissions/{sub['id']}").json["reviews"][0][
        "feedback_html"])
