"""Hook implementations of the ``quiz_ai`` plugin."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from lmscore import hookimpl
from lmscore.config import secret

from .from_content import FromContentGenerator
from .generator import LLMQuizGenerator
from .llm import ChatModel, GeminiChat, OpenAIChat
from .rubric import AiRubricGrader

CHAT_MODELS: dict[str, type[ChatModel]] = {"openai": OpenAIChat, "gemini": GeminiChat}


def _url():
    return fields.Url(require_tld=False, load_default=None)


class OpenAISettings(Schema):
    base_url = _url()  # None: api.openai.com
    model = fields.String(required=True, validate=validate.Length(min=1))
    api_key = secret(fields.String(load_default=""))  # local servers need none
    # "schema" (json_schema response format) or "object" for servers with plain JSON mode only.
    json_mode = fields.String(load_default="schema", validate=validate.OneOf(["schema", "object"]))


class GeminiSettings(Schema):
    base_url = _url()  # None: Google's endpoint
    model = fields.String(load_default="gemini-2.5-flash", validate=validate.Length(min=1))
    api_key = secret(fields.String(required=True, validate=validate.Length(min=1)))


class QuizAiSettings(Schema):
    language = fields.String(load_default="en", validate=validate.Length(equal=2))
    openai = fields.Nested(OpenAISettings, load_default=None)
    gemini = fields.Nested(GeminiSettings, load_default=None)
    max_retries = fields.Integer(load_default=2, validate=validate.Range(min=0, max=5))
    request_retries = fields.Integer(load_default=2, validate=validate.Range(min=0, max=10))
    timeout_s = fields.Float(load_default=120.0, validate=validate.Range(min=1, max=900))
    temperature = fields.Float(load_default=0.2, validate=validate.Range(min=0, max=2))
    max_grounding_chars = fields.Integer(load_default=60_000,
                                         validate=validate.Range(min=1000, max=2_000_000))
    grader_provider = fields.String(load_default=None, validate=validate.OneOf(list(CHAT_MODELS)))
    min_confidence = fields.Float(load_default=0.7, validate=validate.Range(min=0, max=1))

    @validates_schema
    def grader_provider_configured(self, data, **_):
        provider = data.get("grader_provider")
        if provider and not data.get(provider):
            raise ValidationError(f"[plugins.quiz_ai.{provider}] is not configured.",
                                  "grader_provider")


def chat_models(settings: dict[str, Any]) -> dict[str, ChatModel]:
    """One chat model per configured provider, in CHAT_MODELS order."""
    return {name: cls(settings[name], settings["temperature"], settings["timeout_s"],
                      settings["request_retries"])
            for name, cls in CHAT_MODELS.items() if settings.get(name)}


@hookimpl
def lms_config_schema():
    return QuizAiSettings


@hookimpl
def lms_register_quiz_generators(lms):
    settings = lms.plugin_config("quiz_ai")
    return [FromContentGenerator(settings["language"]),
            *(LLMQuizGenerator(chat, settings["max_retries"], settings["max_grounding_chars"])
              for chat in chat_models(settings).values())]


@hookimpl
def lms_register_graders(lms):
    settings = lms.plugin_config("quiz_ai")
    models = chat_models(settings)
    chat = models.get(settings["grader_provider"]) or next(iter(models.values()), None)
    if chat is None:
        return None
    return [AiRubricGrader(chat, settings["min_confidence"], settings["max_retries"])]
