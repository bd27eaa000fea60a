"""Our decode engine against transformers' `generate`, on the tiny random-weight Qwen2.5-VL (CPU, fp32)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.space import SPACES
from agent.models import engine as engine_module
from agent.models.engine import TokenChooser
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
from prompts.messages import ChatMessage, ImagePart, TextPart
from tests.support.tiny_model import reseed_weights
from tests.test_models import MAX_PIXELS, request_for, screenshot


@pytest.fixture(scope="module")
def pair(tiny_model_dir: Path) -> Iterator[tuple[TransformersBackend, TransformersBackend]]:
    """(ours, reference): the same checkpoint behind our engine and behind `generate`."""
    settings = ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=48)
    ours = TransformersBackend(settings)
    reference = TransformersBackend(settings.model_copy(update={"engine": "generate"}))
    yield ours, reference
    ours.close()
    reference.close()


def reseed(pair: tuple[TransformersBackend, TransformersBackend], seed: int) -> None:
    for backend in pair:
        reseed_weights(backend.model, seed)
    pair[0].engine.reset()  # cached keys and values belong to the old weights


def two_image_messages(seed: int) -> list[ChatMessage]:
    """A step with a past screenshot and the current one, like history_images=2."""
    return [
        ChatMessage.text("system", "You are a GUI agent. Answer with one tool call."),
        ChatMessage("user", (TextPart("Task: open the menu. Before:"), ImagePart(screenshot(160, 100, seed)))),
        ChatMessage.text("assistant", '<tool_call>\n{"name": "computer_use", "arguments": {"action": "wait"}}\n</tool_call>'),
        ChatMessage("user", (TextPart("Now:"), ImagePart(screenshot(120, 200, seed + 1)))),
    ]


@pytest.mark.parametrize("constrained", [False, True], ids=["free", "grammar"])
def test_greedy_tokens_are_those_of_generate(pair: tuple[TransformersBackend, TransformersBackend],
                                             constrained: bool) -> None:
    ours, reference = pair
    for seed in range(5):
        reseed(pair, seed)
        request = request_for(ours, SPACES["mobile" if seed % 2 else "computer"],
                              screenshot(200 - 20 * seed, 120 + 15 * seed, seed), f"Task {seed}.")
        grammar = ours.grammar(request) if constrained else None
        # Unconstrained, the stop tokens are held back so the whole length is compared.
        forced = 0 if constrained else 40
        got, timings = ours.run(ours.prepare(request.messages), grammar, 40, forced)
        want, _ = reference.run(reference.prepare(request.messages), grammar, 40, forced)
        assert got == want, f"seed {seed}"
        assert timings.new_tokens == len(got) and timings.prefill_s > timings.vision_s > 0
    # Two images of different sizes, one of them in the history.
    for seed in (7, 8):
        reseed(pair, seed)
        got, _ = ours.run(ours.prepare(two_image_messages(seed)), None, 24, 24)
        want, _ = reference.run(reference.prepare(two_image_messages(seed)), None, 24, 24)
        assert got == want


def test_a_chunk_gives_the_logits_of_one_token_at_a_time(
    pair: tuple[TransformersBackend, TransformersBackend],
) -> None:
    import torch

    ours, _ = pair
    reseed(pair, 3)
    engine = ours.engine
    prompt = ours.prepare(request_for(ours, SPACES["computer"], screenshot(150, 90, 3), "Go.").messages).prompt
    tokens = [11, 42, 7, 300, 5]
    with torch.inference_mode():
        engine.reset()
        engine._ensure_capacity(len(prompt.ids) + 32)
        engine._prefill(prompt, 0)
        together = engine._forward_chunk(tokens).clone()
        length = engine._length
        engine._truncate(len(prompt.ids))
        one_by_one = torch.stack([engine._forward_chunk([t])[0].clone() for t in tokens])
    assert length == engine._length == len(prompt.ids) + len(tokens)
    assert torch.allclose(together, one_by_one, atol=1e-4, rtol=1e-4)
    # Position matters: the same tokens one slot later give other logits.
    with torch.inference_mode():
        shifted = engine._forward_chunk(tokens).clone()
    assert not torch.allclose(shifted, together, atol=1e-3)


def test_the_unchanged_prompt_start_is_not_prefilled_again(
    pair: tuple[TransformersBackend, TransformersBackend],
) -> None:
    ours, reference = pair
    reseed(pair, 5)
    first = request_for(ours, SPACES["computer"], screenshot(200, 120, 1), "Open the settings.")
    ours.run(ours.prepare(first.messages), ours.grammar(first), 30)
    second = request_for(ours, SPACES["computer"], screenshot(200, 120, 2), "Open the settings.")
    prepared = ours.prepare(second.messages)
    got, timings = ours.run(prepared, None, 30, 30)
    # Everything before the screenshot was reused: system prompt, tools and task.
    assert timings.reused_tokens == prepared.prompt.first_image_index > 20
    want, _ = reference.run(reference.prepare(second.messages), None, 30, 30)
    assert got == want
    # A different task shares only the part of the prompt before it.
    third = request_for(ours, SPACES["computer"], screenshot(200, 120, 2), "Close the settings.")
    _, timings = ours.run(ours.prepare(third.messages), None, 5)
    assert 0 < timings.reused_tokens < prepared.prompt.first_image_index


def test_grammar_drafts_save_passes_and_change_no_token(
    pair: tuple[TransformersBackend, TransformersBackend],
) -> None:
    ours, _ = pair
    reseed(pair, 9)
    request = request_for(ours, SPACES["computer"], screenshot(180, 110, 9), "Click it.")
    prepared = ours.prepare(request.messages)
    grammar = ours.grammar(request)
    drafted, with_drafts = ours.run(prepared, grammar, 48)
    ours.engine.draft = False
    try:
        plain, without = ours.run(prepared, grammar, 48)
    finally:
        ours.engine.draft = True
    assert drafted == plain
    assert without.forward_passes == len(plain) - 1
    # The tiny tokenizer spells forced text one way, so most of the call's scaffolding comes from drafts.
    assert with_drafts.forward_passes < without.forward_passes * 0.7


def test_the_cache_grows_for_a_longer_prompt(pair: tuple[TransformersBackend, TransformersBackend],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ours, reference = pair
    reseed(pair, 4)
    monkeypatch.setattr(engine_module, "CACHE_GRANULE", 16)
    short = request_for(ours, SPACES["computer"], screenshot(80, 60, 4), "Go.")
    ours.run(ours.prepare(short.messages), None, 4)
    capacity = ours.engine._capacity
    got, _ = ours.run(ours.prepare(two_image_messages(4)), None, 20, 20)
    assert ours.engine._capacity > capacity
    want, _ = reference.run(reference.prepare(two_image_messages(4)), None, 20, 20)
    assert got == want


def test_the_chooser_only_lets_the_grammar_through(pair: tuple[TransformersBackend, TransformersBackend]) -> None:
    import torch

    ours, _ = pair
    request = request_for(ours, SPACES["computer"], screenshot(120, 80, 0), "Go.")
    chooser = TokenChooser(ours.stop_token_ids, ours.grammar(request))
    vocab = ours.model.config.text_config.vocab_size
    # Whatever the logits favour (here: stop at once), the answer starts opening the tool call...
    logits = torch.zeros(vocab)
    logits[ours.stop_token_ids[0]] = 100.0
    first = ours.tokenizer.decode([chooser.choose(logits)])
    assert first and "<tool_call>".startswith(first)
    # ... and the rest of the opening and the tool's name are forced: what drafts are made of.
    assert chooser.forced_text().startswith("<tool_call>"[len(first):] + '\n{"name": "computer_use"')


def test_a_padded_pass_reads_nothing_back_from_the_device(
    pair: tuple[TransformersBackend, TransformersBackend], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a CUDA graph can hold: a pass that turns no tensor into a Python value (capture fails on that).
    The prefill reads nothing back either, once its image size was seen: images go in by an index put, and
    attention needs no mask."""
    import torch

    ours, _ = pair
    engine = ours.engine
    prompt = ours.prepare(request_for(ours, SPACES["computer"], screenshot(150, 90, 1), "Go.").messages).prompt
    with torch.inference_mode():
        engine.reset()
        engine._ensure_capacity(len(prompt.ids) + 32)
        engine._prefill(prompt, 0)  # the vision path's layouts for this image size are built on the host once

        def refuse(*_: object, **__: object) -> None:
            raise AssertionError("a device value was read back during the pass")

        for name in ("item", "tolist", "__bool__", "__int__", "__float__"):
            monkeypatch.setattr(torch.Tensor, name, refuse)
        with pytest.raises(AssertionError, match="read back"):
            bool(torch.ones(1))  # the guard itself works
        engine._prefill(prompt, 0)
        for bucket in engine_module.CHUNK_BUCKETS:
            engine._buffers.load([5] * bucket, bucket, engine._length, engine._rope_delta)
            engine._forward_buffers(bucket)
            engine._cache.crop(-bucket)
        engine._prefill(prompt, 1)  # a continued prefill, after a reused start
    monkeypatch.undo()


def test_a_step_cut_short_leaves_no_half_written_cache(pair: tuple[TransformersBackend, TransformersBackend]) -> None:
    ours, reference = pair
    reseed(pair, 6)
    request = request_for(ours, SPACES["computer"], screenshot(160, 100, 6), "Go.")
    prepared = ours.prepare(request.messages)
    ours.run(prepared, None, 8)
    assert ours.engine._length > 0

    class Interrupted(TokenChooser):
        def choose(self, logits: object) -> int:
            if self.chosen == 3:
                raise KeyboardInterrupt
            return super().choose(logits)

    with pytest.raises(KeyboardInterrupt):
        ours.engine.run(prepared.prompt, Interrupted(ours.stop_token_ids, min_new_tokens=10), 10)
    assert ours.engine._length == 0 and ours.engine._capacity == 0
    got, timings = ours.run(prepared, None, 12, 12)
    want, _ = reference.run(reference.prepare(request.messages), None, 12, 12)
    assert got == want and timings.reused_tokens == 0


class _StandInGraph:
    """A CUDA graph's stand-in on the CPU: replaying runs the recorded pass into the graph's output tensor,
    or, broken, writes what a graph with a stale constant might: the wrong numbers, silently."""

    def __init__(self, engine: object, bucket: int, output: object, broken: bool) -> None:
        self.engine, self.bucket, self.output, self.broken, self.replays = engine, bucket, output, broken, 0

    def replay(self) -> None:
        # Like a real graph, it writes the tensor it was recorded with, wherever the engine looks now.
        self.replays += 1
        engine, bucket = self.engine, self.bucket
        buffers = engine._buffers  # type: ignore[attr-defined]
        out = engine.model(input_ids=buffers.ids[:, :bucket], position_ids=buffers.positions[bucket],  # type: ignore[attr-defined]
                           attention_mask=buffers.masks[bucket], cache=engine._cache, use_cache=True).logits[0]  # type: ignore[attr-defined]
        self.output.copy_(out * 0 if self.broken else out)  # type: ignore[attr-defined]


@pytest.mark.parametrize("broken", [False, True], ids=["sound", "broken"])
def test_graph_replays_are_checked_once_against_an_eager_pass(
    pair: tuple[TransformersBackend, TransformersBackend], monkeypatch: pytest.MonkeyPatch, broken: bool,
) -> None:
    import torch

    ours, reference = pair
    reseed(pair, 11)
    engine = ours.engine
    graphs: list[_StandInGraph] = []

    def record(bucket: int) -> _StandInGraph:
        output = torch.zeros((bucket, ours.model.config.text_config.vocab_size))
        engine._buffers.logits[bucket] = output
        graphs.append(_StandInGraph(engine, bucket, output, broken))
        return graphs[-1]

    monkeypatch.setattr(engine, "_record", record)
    monkeypatch.setattr(engine, "use_graphs", True)
    request = request_for(ours, SPACES["computer"], screenshot(150, 100, 11), "Go.")
    got, _ = ours.run(ours.prepare(request.messages), None, 16, 16)
    want, _ = reference.run(reference.prepare(request.messages), None, 16, 16)
    assert got == want
    assert len(graphs) == len(engine_module.CHUNK_BUCKETS)
    # A sound graph keeps serving every decode pass; a broken one is caught at its first replay and dropped.
    assert engine.use_graphs is not broken
    assert sum(g.replays for g in graphs) == (1 if broken else 15)
    engine.reset()


def test_sampling_is_seeded_and_stays_inside_the_grammar(tiny_model_dir: Path) -> None:
    from actions.parsing import ParseError, parse_action

    settings = ModelSettings(model=str(tiny_model_dir), max_pixels=MAX_PIXELS, max_new_tokens=160,
                             temperature=1.5, seed=3)
    sampler = TransformersBackend(settings)
    greedy = TransformersBackend(settings.model_copy(update={"temperature": 0.0}))
    try:
        texts = []
        for backend in (sampler, sampler, greedy):
            reseed_weights(backend.model, 2)
            backend.engine.reset()
            request = request_for(backend, SPACES["computer"], screenshot(160, 100, 2), "Go.")
            generation = backend.generate(request)
            texts.append(generation.text)
            if generation.finish == "end_of_turn":
                parse_action(texts[-1], SPACES["computer"])  # a valid call, however it was drawn
            else:  # drawn too long for max_new_tokens, so cut inside the call: never an action
                with pytest.raises(ParseError, match="cut off"):
                    parse_action(texts[-1], SPACES["computer"])
        assert texts[0] == texts[1], "the same seed draws the same answer"
        assert texts[0] != texts[2], "sampling at temperature 1.5 is not argmax"
    finally:
        sampler.close()
        greedy.close()
