"""Fixtures of the quiz_ai tests: a fake LLM server and settings pointing at it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from lms_quiz_ai.plugin import QuizAiSettings
from quiz_ai_fakes import FakeLLM


@pytest.fixture
def llm_server():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def settings(llm_server) -> Callable[..., dict[str, Any]]:
    """``settings(**overrides)``: [plugins.quiz_ai] as loaded, both providers on the fake."""

    def load(**overrides: Any) -> dict[str, Any]:
        raw = {"openai": {"base_url": f"{llm_server.url}/v1", "model": "test-model",
                          "api_key": "sk-test"},
               "gemini": {"base_url": llm_server.url, "model": "gemini-test",
                          "api_key": "gm-test"},
               "request_retries": 0, **overrides}
        return QuizAiSettings().load(raw)

    return load
