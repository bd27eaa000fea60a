"""A small real OpenAI-compatible chat-completions server on 127.0.0.1, serving a local checkpoint.

It speaks the parts of the protocol our client uses (text and image_url parts, max_tokens,
temperature, a grammar in vLLM's structured_outputs / guided_grammar or SGLang's ebnf) through a
`TransformersBackend`, and can be told to misbehave: the next requests answer with an HTTP status,
a body that is not JSON, or only after a delay.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from agent.models.transformers_backend import TransformersBackend
from prompts.messages import ChatMessage, ImagePart, TextPart


@dataclass(frozen=True)
class Fault:
    """What the server does instead of answering: an HTTP `status`, a `garbage` body, or `delay_s` first."""

    status: int | None = None
    garbage: bool = False
    delay_s: float = 0.0


@dataclass
class ServedRequest:
    body: dict[str, Any]
    image_sizes: list[tuple[int, int]] = field(default_factory=list)


def _image_from_url(url: str) -> Image.Image:
    if not url.startswith("data:image/") or ";base64," not in url:
        raise ValueError("only base64 data URLs are served here")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def to_chat_messages(messages: list[dict[str, Any]]) -> list[ChatMessage]:
    out = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            out.append(ChatMessage.text(message["role"], content))
            continue
        parts: list[TextPart | ImagePart] = []
        for part in content:
            if part["type"] == "text":
                parts.append(TextPart(part["text"]))
            elif part["type"] == "image_url":
                parts.append(ImagePart(_image_from_url(part["image_url"]["url"])))
            else:
                raise ValueError(f"unsupported content part {part['type']!r}")
        out.append(ChatMessage(message["role"], tuple(parts)))
    return out


def _grammar_of(body: dict[str, Any]) -> str | None:
    """The EBNF grammar a request constrains its answer with, in vLLM's (both forms) or SGLang's field. A
    json_schema response format is refused, as our client must never send one (it forbids `<tool_call>`)."""
    if "response_format" in body or "guided_json" in body:
        raise ValueError("a JSON-schema constraint forbids the <tool_call> tags; send a grammar")
    if isinstance(body.get("structured_outputs"), dict):
        return body["structured_outputs"]["grammar"]
    return body.get("guided_grammar") or body.get("ebnf")


class OpenAIServer:
    """Serves `backend` as `served_model` at `self.base_url` until `close()`; use as a context manager."""

    def __init__(self, backend: TransformersBackend, served_model: str = "tiny-qwen") -> None:
        self.backend = backend
        self.served_model = served_model
        self.faults: deque[Fault] = deque()
        self.served: list[ServedRequest] = []
        self.attempts = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # Closing waits for requests still running (a delayed one outlives its client's timeout), so the
        # backend is never closed under a generation.
        self._httpd.daemon_threads = False
        self._httpd.block_on_close = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> OpenAIServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def complete(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One chat completion: (HTTP status, response JSON)."""
        if body.get("model") != self.served_model:
            return 404, {"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}}
        try:
            messages = to_chat_messages(body["messages"])
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": {"message": f"bad messages: {exc}", "code": 400}}
        backend = self.backend
        try:
            text = _grammar_of(body)
            grammar = None if text is None or backend.grammars is None else backend.grammars.compiled_ebnf(text)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # xgrammar raises RuntimeError on bad EBNF
            return 400, {"error": {"message": f"bad structured output: {exc}", "code": 400}}
        # One generation at a time: the model and its grammar matchers are not shared across threads.
        with self._lock:
            prepared = backend.prepare(messages)
            new_ids, timings = backend.run(prepared, grammar, max_new_tokens=int(body.get("max_tokens", 256)))
            self.served.append(ServedRequest(body, prepared.image_sizes))
        text = backend.tokenizer.decode(new_ids, skip_special_tokens=True)
        finish = "stop" if new_ids and new_ids[-1] in backend.stop_token_ids else "length"
        return 200, {
            "id": f"chatcmpl-{len(self.served)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.served_model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": timings.prompt_tokens,
                "completion_tokens": timings.new_tokens,
                "total_tokens": timings.prompt_tokens + timings.new_tokens,
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                with server._lock:
                    server.attempts += 1
                    fault = server.faults.popleft() if server.faults else Fault()
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault.status is not None:
                    error = {"error": {"message": f"injected HTTP {fault.status}", "code": fault.status}}
                    self._send(fault.status, json.dumps(error).encode())
                    return
                if fault.garbage:
                    self._send(200, b"<html>502 upstream hiccup</html>", "text/html")
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                    return
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    self._send(400, json.dumps({"error": {"message": "body is not JSON"}}).encode())
                    return
                status, payload = server.complete(body)
                try:
                    self._send(status, json.dumps(payload).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

        return Handler


__all__ = ["Fault", "OpenAIServer", "ServedRequest", "to_chat_messages"]
