"""Quiz generators (offline ``from_content``, ``openai``, ``gemini``) and ``ai_rubric``."""

from .checks import question_problems
from .from_content import FromContentGenerator
from .generator import LLMQuizGenerator
from .rubric import AiRubricGrader

__all__ = ["AiRubricGrader", "FromContentGenerator", "LLMQuizGenerator", "question_problems"]
