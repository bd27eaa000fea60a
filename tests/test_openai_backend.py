"""The OpenAI-compatible client against a real HTTP server on localhost serving the tiny checkpoint."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actions.geometry import ImageBudget
from actions.space import SPACES
from agent.models import openai_backend
from agent.models.base import GenerationRequest, ModelBackend, ModelError
from agent.models.factory import create_backend
from agent.models.grammar import split_tool_call
from agent.models.openai_backend import OpenAIBackend
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
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
    backend = create_backend(ModelSettings(**settings))  # type: ignore[arg-type]
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


@pytest.mark.parametrize("mode", ["response_format", "structured_outputs", "guided_json"])
def test_round_trip_gives_a_valid_call_at_the_stated_size(server: OpenAIServer, mode: str) -> None:
    backend = client(server)
    backend.structured_output = mode  # type: ignore[assignment]
    assert isinstance(backend, ModelBackend)
    for seed, (space_name, size) in enumerate([("mobile", (300, 180)), ("computer", (150, 260))]):
        request = request_for(backend, space_name, size, seed)
        generation = backend.generate(request)
        # Resized here, unchanged by the server's own processor: the model saw the size the prompt states.
        assert generation.image_sizes == [backend.image_budget.resized_size(*size)] == [request.image_size]
        assert server.served[-1].image_sizes == generation.image_sizes
        sent = server.served[-1].body
        assert mode in sent
        assert sent["messages"][1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
        call = json.loads(split_tool_call(generation.text)[1])
        action = SPACES[space_name].validate(call["arguments"])
        assert all(0 <= x < size[0] and 0 <= y < size[1] for x, y in action.points())
        assert generation.new_tokens and generation.prompt_tokens and generation.generate_s > 0


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
