"""Test helpers of quiz_ai: real step texts, and a fake LLM server on 127.0.0.1 that the real
``openai`` and ``google-genai`` SDKs talk to. The server speaks ``/v1/chat/completions`` and
Gemini's ``:generateContent``, answers from a queue of canned replies (or a responder function),
and records every request it received."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lms_content_folder.reader import read_step

TRACKS = Path(__file__).resolve().parents[3] / "tracks"
Reply = tuple[int, dict[str, Any]]


def step_text(*relative: str) -> str:
    """Step bodies exactly as the content sync stores them (front matter removed)."""
    return "\n\n".join(read_step(TRACKS / r).body_markdown for r in relative)


def chat_reply(content: str) -> Reply:
    return 200, {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": content}}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def gemini_reply(text: str) -> Reply:
    return 200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                 "finishReason": "STOP", "index": 0}]}


def error_reply(status: int, message: str) -> Reply:
    return status, {"error": {"code": status, "message": message, "type": "error",
                              "status": "ERROR"}}


def questions_json(count: int, qtype: str = "mcq_single") -> str:
    return json.dumps({"questions": [
        {"type": qtype, "prompt": f"Which value is the median of 1, {n + 2}, 9?",
         "options": [{"text": str(n + 2), "correct": True}, {"text": "1", "correct": False},
                     {"text": "9", "correct": False}],
         "explanation": "The middle value when sorted."} for n in range(count)]})


class FakeLLM:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                server.requests.append({"path": self.path, "headers": headers, "body": body})
                if server.replies:
                    status, payload = server.replies.pop(0)
                elif server.responder:
                    status, payload = server.responder(body)
                else:
                    status, payload = error_reply(500, "no canned reply left")
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def messages(self, n: int = -1) -> list[dict[str, Any]]:
        """The chat messages of the n-th chat-completions request."""
        return self.requests[n]["body"]["messages"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def requested_count(system_message: str) -> int:
    return int(re.search(r"exactly (\d+)\s+questions", system_message)[1])
