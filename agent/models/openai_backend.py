"""A client for any OpenAI-compatible chat-completions server (vLLM, SGLang) serving Qwen2.5-VL.

Screenshots are resized here, with `smart_resize` to this backend's image budget, before they are sent:
a side that is already a multiple of 28 within the pixel limits passes the server's own resize
unchanged, so the resolution the prompt states is exactly the one the model sees. Set the server's
max_pixels to at least this budget's.

Only the standard library speaks HTTP here, so this backend adds no dependency.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import io
import json
import math
import random
import time
import urllib.error
import urllib.request
from typing import Any

from loguru import logger
from PIL import Image

from actions.geometry import ImageBudget
from agent.models.base import Finish, Generation, GenerationRequest, ModelError
from actions.space import TOOL_CALL_CLOSE
from agent.models.grammar import tool_call_ebnf
from agent.models.settings import ModelSettings
from prompts.messages import ChatMessage, ImagePart, TextPart

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 20.0


class _Retryable(Exception):
    """A failure worth another try (rate limit, server error, dropped connection, timeout)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


def encode_png(image: Image.Image) -> str:
    """A PNG data URL; PNG keeps text on screenshots sharp where JPEG would smear it."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def resize_for_budget(image: Image.Image, budget: ImageBudget) -> Image.Image:
    width, height = budget.resized_size(*image.size)
    if (width, height) == image.size:
        return image
    return image.resize((width, height), Image.Resampling.BICUBIC)


class OpenAIBackend:
    """Qwen2.5-VL behind an OpenAI-compatible server at `settings.base_url`, asked for `settings.model`."""

    def __init__(self, settings: ModelSettings) -> None:
        if not settings.uses_server:
            raise ModelError(f"base_url {settings.base_url!r} is not an http(s) URL; e.g. http://localhost:8000/v1")
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.name = f"openai:{settings.model}@{settings.base_url}"
        if settings.allow_thought and settings.constrained:
            logger.warning(
                "allow_thought has no effect with a server: the grammar it is sent admits no text before the "
                "tool call"
            )
        defaults = ImageBudget()
        self.image_budget = ImageBudget(
            min_pixels=settings.min_pixels or defaults.min_pixels,
            max_pixels=settings.max_pixels or defaults.max_pixels,
        )

    # Building the request.
    def _content(self, message: ChatMessage, sizes: list[tuple[int, int]]) -> str | list[dict[str, Any]]:
        if all(isinstance(p, TextPart) for p in message.parts):
            return "".join(p.text for p in message.parts if isinstance(p, TextPart))
        content: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                resized = resize_for_budget(part.image, self.image_budget)
                sizes.append(resized.size)
                content.append({"type": "image_url", "image_url": {"url": encode_png(resized)}})
        return content

    def build_body(self, request: GenerationRequest) -> tuple[dict[str, Any], list[tuple[int, int]]]:
        """The JSON body for one request, and the size of every image as sent."""
        sizes: list[tuple[int, int]] = []
        body: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [{"role": m.role, "content": self._content(m, sizes)} for m in request.messages],
            "max_tokens": self.settings.max_new_tokens,
            "temperature": self.settings.temperature,
        }
        if self.settings.seed is not None:
            body["seed"] = self.settings.seed
        if self.settings.constrained:
            # The whole answer, `<tool_call>` included: a json_schema response format would forbid the tag the
            # checkpoints were trained to open with.
            grammar = tool_call_ebnf(request.space, *request.image_size)
            if self.settings.grammar_field == "structured_outputs":
                body["structured_outputs"] = {"grammar": grammar}
            else:
                body[self.settings.grammar_field] = grammar
        return body, sizes

    # Talking to the server.
    def _post(self, body: bytes) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.settings.timeout_s) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in RETRY_STATUSES:
                raise _Retryable(f"HTTP {exc.code}: {detail}", _retry_after(exc)) from None
            raise ModelError(
                f"the server at {self.url} refused the request with HTTP {exc.code}: {detail}"
                + _hint_for(exc.code, self.settings.model)
            ) from None
        except TimeoutError as exc:
            raise _Retryable(f"no answer within {self.settings.timeout_s:g} s ({exc})") from None
        except (urllib.error.URLError, ConnectionError, OSError) as exc:
            raise _Retryable(f"cannot reach the server ({getattr(exc, 'reason', exc)})") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ModelError(
                f"the server at {self.url} answered with something that is not JSON: {raw[:200]!r}; "
                "is base_url an OpenAI-compatible API (it usually ends in /v1)?"
            ) from None

    def _post_with_retries(self, body: bytes) -> dict[str, Any]:
        attempts = self.settings.max_retries + 1
        for attempt in range(attempts):
            try:
                return self._post(body)
            except _Retryable as exc:
                if attempt == attempts - 1:
                    raise ModelError(
                        f"the server at {self.url} failed {attempts} time(s), last: {exc}; check that it is up "
                        "and not overloaded, or raise timeout_s / max_retries (--timeout-s / --max-retries)"
                    ) from None
                delay = exc.retry_after_s
                if delay is None:
                    delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2**attempt) * (0.5 + random.random() / 2)
                logger.warning("{}; retrying in {:.1f} s ({}/{})", exc, delay, attempt + 1, attempts - 1)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def generate(self, request: GenerationRequest) -> Generation:
        started = time.perf_counter()
        body, sizes = self.build_body(request)
        encoded = json.dumps(body).encode("utf-8")
        prepared = time.perf_counter()
        answer = self._post_with_retries(encoded)
        finished = time.perf_counter()
        text = self._text_of(answer)
        finish = _finish_of(answer)
        if finish == "tool_call_end" and not text.rstrip().endswith(TOOL_CALL_CLOSE.strip()):
            # Servers leave the stop string out of the text; put back the tag the model did write.
            text = text.rstrip() + TOOL_CALL_CLOSE
        usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
        return Generation(
            text=text,
            image_sizes=sizes,
            preprocess_s=prepared - started,
            generate_s=finished - prepared,
            prompt_tokens=_token_count(usage.get("prompt_tokens")),
            new_tokens=_token_count(usage.get("completion_tokens")),
            finish=finish,
        )

    def _text_of(self, answer: dict[str, Any]) -> str:
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ModelError(
                f"the server at {self.url} answered without choices[0].message.content: {json.dumps(answer)[:200]}"
            ) from None
        if not isinstance(content, str):
            raise ModelError(f"the server at {self.url} answered with content {content!r}, not text")
        return content

    def close(self) -> None:
        pass


def _finish_of(answer: dict[str, Any]) -> Finish | None:
    """Why the server stopped: its finish_reason ("length", "stop"), and for "stop" the stop string it matched
    (vLLM's stop_reason, SGLang's matched_stop) when that was </tool_call>; None for anything else."""
    choice = answer["choices"][0]
    reason = choice.get("finish_reason")
    if reason == "length":
        return "length"
    if reason != "stop":
        return None
    matched = choice.get("stop_reason", choice.get("matched_stop"))
    return "tool_call_end" if isinstance(matched, str) and TOOL_CALL_CLOSE.strip() in matched else "end_of_turn"


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except OSError:
        return exc.reason or ""
    try:
        payload = json.loads(raw)
        error = payload.get("error", payload) if isinstance(payload, dict) else payload
        message = error.get("message", error) if isinstance(error, dict) else error
        return str(message)[:300]
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return raw[:300].decode("utf-8", "replace")


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    """The wait a Retry-After header asks for (seconds or an HTTP date, RFC 9110), within [0, BACKOFF_MAX_S];
    None when there is none or it cannot be read, so the normal backoff applies."""
    value = exc.headers.get("Retry-After") if exc.headers else None
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # "-0000" parses without a zone; every HTTP date is in UTC
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - datetime.datetime.now(datetime.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), BACKOFF_MAX_S)


def _token_count(value: Any) -> int | None:
    """A usage field as a count; None for what some servers send instead (strings, fractions, null, objects)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _hint_for(status: int, model: str) -> str:
    if status in (401, 403):
        return "; set api_key to the key the server expects"
    if status == 404:
        return f"; check base_url (it usually ends in /v1) and that the server serves a model named {model!r}"
    if status == 400:
        return ("; the server may not support this request (images, its size, or the grammar: choose the field "
                "your server reads with grammar_field)")
    return ""


__all__ = ["OpenAIBackend", "encode_png", "resize_for_budget"]
