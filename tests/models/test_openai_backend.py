"""The OpenAI-compatible client against a real HTTP server on localhost serving the tiny checkpoint."""

from __future__ import annotations

import json
import socket
import threading
import time
import typing
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from actions.geometry import ImageBudget
from actions.parsing import ParseError, parse_action
from actions.space import SPACES
from agent.cli_flags import GRAMMAR_FIELDS
from agent.models import openai_backend
from agent.models.base import GenerationRequest, ModelBackend, ModelError
from agent.models.factory import create_backend
from agent.models.grammar import split_tool_call
from agent.models.openai_backend import OpenAIBackend
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
from agent.trajectory import Attempt
from prompts.messages import ChatMessage, ImagePart, TextPart
from tests.support.openai_server import Fault, OpenAIServer

MAX_PIXELS = 28 * 28 * 40
SERVED = "tiny-qwen"


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path) -> Iterator[OpenAIServer]:
    backend = TransformersBackend(ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS))
    with OpenAIServer(backend, served_model=SERVED) as running:
        yield running
    backend.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_backend, "BACKOFF_BASE_S", 0.01)


@pytest.fixture(autouse=True)
def clean_faults(server: OpenAIServer) -> Iterator[None]:
    server.faults.clear()
    yield
    server.faults.clear()


def client(server: OpenAIServer, **overrides: object) -> OpenAIBackend:
    settings = {
        "model": SERVED,
        "base_url": server.base_url,
        "max_pixels": MAX_PIXELS,
        "max_new_tokens": 700,
        "timeout_s": 30.0,
        "max_retries": 2,
        **overrides,
    }
    backend = create_backend(ModelSettings(**settings))
    assert isinstance(backend, OpenAIBackend)
    return backend


def request_for(backend: ModelBackend, space_name: str, size: tuple[int, int], seed: int = 0) -> GenerationRequest:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    messages = [
        ChatMessage.text("system", "You are a helpful assistant."),
        ChatMessage("user", (TextPart(f"Task {seed}."), ImagePart(image))),
    ]
    return GenerationRequest(messages, SPACES[space_name], backend.image_budget.resized_size(*image.size))


def test_the_flags_offer_every_grammar_field_the_settings_take() -> None:
    assert typing.get_args(ModelSettings.model_fields["grammar_field"].annotation) == GRAMMAR_FIELDS


@pytest.mark.parametrize("mode", GRAMMAR_FIELDS)
def test_round_trip_gives_a_valid_call_at_the_stated_size(server: OpenAIServer, mode: str) -> None:
    backend = client(server, grammar_field=mode)
    assert isinstance(backend, ModelBackend)
    for seed, (space_name, size) in enumerate([("mobile", (300, 180)), ("computer", (150, 260))]):
        request = request_for(backend, space_name, size, seed)
        generation = backend.generate(request)
        # Resized here, unchanged by the server's own processor: the model saw the size the prompt states.
        assert generation.image_sizes == [backend.image_budget.resized_size(*size)] == [request.image_size]
        assert server.served[-1].image_sizes == generation.image_sizes
        sent = server.served[-1].body
        grammar = sent["structured_outputs"]["grammar"] if mode == "structured_outputs" else sent[mode]
        # The whole answer is constrained, the tags the checkpoints open and close a call with included: the
        # server's own text is the tool call, nothing was added to it here.
        assert '"<tool_call>\\n"' in grammar and '"\\n</tool_call>"' in grammar
        assert not {"response_format", "guided_json"} & set(sent)
        assert generation.text.startswith("<tool_call>\n") and generation.text.endswith("\n</tool_call>")
        assert sent["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
        call = json.loads(split_tool_call(generation.text)[1])
        action = SPACES[space_name].validate(call["arguments"])
        assert all(0 <= x < size[0] and 0 <= y < size[1] for x, y in action.points())
        assert generation.new_tokens and generation.prompt_tokens and generation.generate_s > 0
        assert generation.finish == "end_of_turn"


def test_an_answer_cut_at_max_tokens_is_reported_and_left_unclosed(server: OpenAIServer) -> None:
    # The server stops at max_tokens with finish_reason "length", inside the call its grammar began: the text is
    # passed on as it came, unclosed, and the parser refuses it.
    backend = client(server, max_new_tokens=16)
    generation = backend.generate(request_for(backend, "mobile", (200, 120)))
    assert generation.finish == "length" and generation.new_tokens == 16
    assert generation.text.startswith("<tool_call>\n") and "</tool_call>" not in generation.text
    with pytest.raises(ParseError, match="cut off"):
        parse_action(generation.text, SPACES["mobile"])


def test_server_errors_are_retried_then_succeed(server: OpenAIServer) -> None:
    server.faults.extend([Fault(status=500), Fault(status=429)])
    before = server.attempts
    generation = client(server).generate(request_for(client(server), "mobile", (200, 120)))
    assert server.attempts - before == 3
    split_tool_call(generation.text)


def test_retries_run_out_with_a_clear_error(server: OpenAIServer) -> None:
    server.faults.extend([Fault(status=503)] * 3)
    backend = client(server, max_retries=2)
    with pytest.raises(ModelError, match=r"failed 3 time\(s\), last: HTTP 503"):
        backend.generate(request_for(backend, "mobile", (200, 120)))


def test_a_client_error_is_not_retried(server: OpenAIServer) -> None:
    server.faults.append(Fault(status=400))
    before = server.attempts
    backend = client(server)
    with pytest.raises(ModelError, match="refused the request with HTTP 400: injected HTTP 400"):
        backend.generate(request_for(backend, "mobile", (200, 120)))
    assert server.attempts - before == 1


def test_an_unknown_model_names_itself(server: OpenAIServer) -> None:
    backend = client(server, model="Qwen/Qwen2.5-VL-72B-Instruct")
    with pytest.raises(ModelError, match="HTTP 404.*serves a model named 'Qwen/Qwen2.5-VL-72B-Instruct'"):
        backend.generate(request_for(backend, "mobile", (200, 120)))


def test_a_garbage_body_is_a_model_error(server: OpenAIServer) -> None:
    server.faults.append(Fault(garbage=True))
    backend = client(server)
    with pytest.raises(ModelError, match="not JSON"):
        backend.generate(request_for(backend, "mobile", (200, 120)))


def test_a_slow_server_times_out(server: OpenAIServer) -> None:
    server.faults.append(Fault(delay_s=1.5))
    backend = client(server, timeout_s=0.3, max_retries=0)
    with pytest.raises(ModelError, match=r"no answer within 0.3 s"):
        backend.generate(request_for(backend, "mobile", (200, 120)))


def test_an_unreachable_server_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAIBackend(ModelSettings(model=SERVED, base_url=f"http://127.0.0.1:{port}/v1", max_retries=1))
    with pytest.raises(ModelError, match="cannot reach the server"):
        backend.generate(request_for(backend, "mobile", (200, 120)))


def test_budget_defaults_to_the_checkpoints_and_follows_settings(server: OpenAIServer) -> None:
    assert OpenAIBackend(ModelSettings(base_url="http://x/v1")).image_budget == ImageBudget()
    assert client(server).image_budget == ImageBudget(max_pixels=MAX_PIXELS)


# Answers the fake model server has no mode for: odd headers and usage fields, sent as canned replies.
WAIT_JSON = '{"name": "mobile_use", "arguments": {"action": "wait", "time": 1}}'
WAIT_CALL = f"<tool_call>\n{WAIT_JSON}\n</tool_call>"


def completion(usage: Any = None, content: str = WAIT_CALL, **choice: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, **choice}],
            "usage": {"prompt_tokens": usage, "completion_tokens": usage}}


@pytest.fixture
def canned() -> Iterator[tuple[str, list[tuple[int, dict[str, str], dict[str, Any]]]]]:
    """A server on 127.0.0.1 answering each POST with the next (status, headers, JSON body) of the list."""
    replies: list[tuple[int, dict[str, str], dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, body = replies.pop(0)
            payload = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {**headers, "Content-Type": "application/json",
                                "Content-Length": str(len(payload))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", replies
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("retry_after", ["-3", "nan", "inf", "1e9", "soon", "Wed, 21 Oct 2015 07:28:00 GMT",
                                         "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_a_retry_after_of_any_form_waits_within_bounds(canned: tuple, retry_after: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Negative, non-finite, unreadable and far-off waits (seconds or an HTTP date) end within [0, BACKOFF_MAX_S].
    monkeypatch.setattr(openai_backend, "BACKOFF_MAX_S", 0.2)
    base_url, replies = canned
    replies.extend([(429, {"Retry-After": retry_after}, {"error": {"message": "slow down"}}), (200, {}, completion(3))])
    backend = OpenAIBackend(ModelSettings(model=SERVED, base_url=base_url, max_retries=1))
    started = time.monotonic()
    generation = backend.generate(request_for(backend, "mobile", (200, 120)))
    assert time.monotonic() - started < 2 and not replies
    assert json.loads(split_tool_call(generation.text)[1])["arguments"]["action"] == "wait"


@pytest.mark.parametrize(("usage", "count"), [(12, 12), (12.0, 12), ("12", None), (12.5, None), (None, None),
                                              (True, None), ({"n": 12}, None), (float("nan"), None)])
def test_token_counts_are_ints_or_none(canned: tuple, usage: Any, count: int | None) -> None:
    base_url, replies = canned
    replies.append((200, {}, completion(usage)))
    backend = OpenAIBackend(ModelSettings(model=SERVED, base_url=base_url))
    generation = backend.generate(request_for(backend, "mobile", (200, 120)))
    assert generation.prompt_tokens == count and generation.new_tokens == count
    assert Attempt(raw_text=generation.text, prompt_tokens=generation.prompt_tokens,
                   new_tokens=generation.new_tokens).prompt_tokens == count  # what the loop records


@pytest.mark.parametrize(
    ("content", "choice", "finish", "text"),
    [
        (WAIT_CALL, {}, None, WAIT_CALL),
        (WAIT_CALL, {"finish_reason": "stop", "stop_reason": None}, "end_of_turn", WAIT_CALL),
        # vLLM and SGLang name the stop string matched; the server leaves it out of the text, the backend puts it back.
        (f"<tool_call>\n{WAIT_JSON}\n", {"finish_reason": "stop", "stop_reason": "</tool_call>"}, "tool_call_end",
         WAIT_CALL),
        (f"<tool_call>\n{WAIT_JSON}", {"finish_reason": "stop", "matched_stop": "</tool_call>"}, "tool_call_end",
         WAIT_CALL),
        # A cut answer is passed on as it came, for the parser to refuse.
        (WAIT_CALL[:40], {"finish_reason": "length"}, "length", WAIT_CALL[:40]),
    ],
)
def test_the_finish_reason_is_read(canned: tuple, content: str, choice: dict, finish: str | None, text: str) -> None:
    base_url, replies = canned
    replies.append((200, {}, completion(3, content, **choice)))
    backend = OpenAIBackend(ModelSettings(model=SERVED, base_url=base_url))
    generation = backend.generate(request_for(backend, "mobile", (200, 120)))
    assert (generation.finish, generation.text) == (finish, text)
