"""Our decode engine against transformers' `generate`, on the tiny random-weight Qwen2.5-VL (CPU, fp32)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actions.space import SPACES
from agent.models import engine as engine_module
from agent.models.engine import CHUNK_BUCKETS, StepEngine
from agent.models.token_chooser import TokenChooser
from agent.models.settings import ModelSettings
from agent.models.transformers_backend import TransformersBackend
from agent.models.vision_fast import FastVision
from prompts.messages import ChatMessage, ImagePart, TextPart
from tests.support.greedy import RecordingChooser
from tests.support.requests import MAX_PIXELS, request_for, screenshot
from tests.support.tiny_model import reseed_weights


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


def test_grammar_drafts_save_passes_and_change_no_logit(
    pair: tuple[TransformersBackend, TransformersBackend],
) -> None:
    """A draft is checked in one chunk, each of its tokens at its own cache slot and position: every row of logits
    the chooser sees is the row one token at a time gives (the comparisons with `generate` cover the positions)."""
    import torch

    ours, _ = pair
    reseed(pair, 9)
    request = request_for(ours, SPACES["computer"], screenshot(180, 110, 9), "Click it.")
    prompt = ours.prepare(request.messages).prompt
    grammar = ours.grammar(request)
    runs = []
    try:
        for draft in (True, False):
            ours.engine.draft = draft
            chooser = RecordingChooser(ours.stop_token_ids, grammar)
            runs.append((ours.engine.run(prompt, chooser, 48), torch.stack(chooser.rows)))
    finally:
        ours.engine.draft = True
    (drafted, drafted_rows), (plain, plain_rows) = runs
    assert drafted.token_ids == plain.token_ids
    assert torch.allclose(drafted_rows, plain_rows, atol=1e-4, rtol=1e-4)
    assert plain.forward_passes == len(plain.token_ids) - 1 and plain.drafted == 0
    # The tiny tokenizer spells forced text one way, so most of the call's scaffolding comes from drafts.
    assert drafted.forward_passes < plain.forward_passes * 0.7
    assert drafted.forward_passes + drafted.drafted == plain.forward_passes


def test_the_cache_grows_for_a_longer_prompt(pair: tuple[TransformersBackend, TransformersBackend],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ours, reference = pair
    reseed(pair, 4)
    monkeypatch.setattr(engine_module, "CACHE_GRANULE", 16)
    short = request_for(ours, SPACES["computer"], screenshot(80, 60, 4), "Go.")
    ours.run(ours.prepare(short.messages), None, 4)
    got, timings = ours.run(ours.prepare(two_image_messages(4)), None, 20, 20)
    # The two prompts share their first tokens, but the new, larger cache starts empty.
    assert timings.reused_tokens == 0
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


def test_a_step_reads_nothing_back_from_the_device_outside_the_chooser(
    pair: tuple[TransformersBackend, TransformersBackend], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a CUDA graph can hold: passes that turn no tensor into a Python value (capture fails on that). Only
    choosing a token reads logits back. The prefill reads nothing back either, once its image size was seen:
    images go in by an index put, and attention needs no mask."""
    import torch

    ours, _ = pair
    reseed(pair, 1)
    engine = ours.engine
    request = request_for(ours, SPACES["computer"], screenshot(150, 90, 1), "Go.")
    prompt = ours.prepare(request.messages).prompt
    grammar = ours.grammar(request)
    armed = False

    def guarded(name: str) -> object:
        original = getattr(torch.Tensor, name)

        def read_back(self: torch.Tensor, *args: object, **kwargs: object) -> object:
            if armed:
                raise AssertionError(f"a device value was read back ({name}) outside the chooser")
            return original(self, *args, **kwargs)

        return read_back

    class Unguarded(TokenChooser):
        def choose(self, logits: object) -> int:
            nonlocal armed
            armed = False
            try:
                return super().choose(logits)
            finally:
                armed = True

    chunks: list[int] = []
    hook = ours.model.register_forward_pre_hook(
        lambda _m, _a, kwargs: chunks.append(kwargs["input_ids"].shape[1]) if "input_ids" in kwargs else None,
        with_kwargs=True,
    )
    try:
        engine.reset()
        engine.run(prompt, TokenChooser(ours.stop_token_ids, grammar), 48)  # builds this image size's layouts
        choosers = [Unguarded(ours.stop_token_ids, grammar) for _ in range(2)]
        for name in ("item", "tolist", "__bool__", "__int__", "__float__"):
            monkeypatch.setattr(torch.Tensor, name, guarded(name))
        armed = True
        with pytest.raises(AssertionError, match="read back"):
            bool(torch.ones(1))  # the guard itself works
        continued = engine.run(prompt, choosers[0], 48)  # a prefill after a reused prompt start
        engine.reset()
        fresh = engine.run(prompt, choosers[1], 48)  # a new cache, prefilled from empty
    finally:
        armed = False
        hook.remove()
        monkeypatch.undo()
    assert continued.reused_prefix > 0 and fresh.reused_prefix == 0
    # Decode passes of one token and padded drafts both ran under the guard.
    assert 1 in chunks and any(n > 1 for n in chunks)


def test_a_step_cut_short_leaves_no_half_written_cache(pair: tuple[TransformersBackend, TransformersBackend]) -> None:
    ours, reference = pair
    reseed(pair, 6)
    request = request_for(ours, SPACES["computer"], screenshot(160, 100, 6), "Go.")
    prepared = ours.prepare(request.messages)
    ours.run(prepared, None, 8)
    _, timings = ours.run(prepared, None, 8)
    assert ours.engine.cached_tokens > 0 and timings.reused_tokens > 0

    class Interrupted(TokenChooser):
        def choose(self, logits: object) -> int:
            if self.chosen == 3:
                raise KeyboardInterrupt
            return super().choose(logits)

    with pytest.raises(KeyboardInterrupt):
        ours.engine.run(prepared.prompt, Interrupted(ours.stop_token_ids, min_new_tokens=10), 10)
    assert ours.engine.cached_tokens == 0
    got, timings = ours.run(prepared, None, 12, 12)
    want, _ = reference.run(reference.prepare(request.messages), None, 12, 12)
    assert got == want and timings.reused_tokens == 0


class StandInGraphs:
    """CUDA graphs' stand-in on the CPU: a replay runs the recorded pass into the graph's output tensor, as a real
    one does (advancing the cache), or, broken, writes what a graph with a stale constant might: the wrong numbers,
    silently."""

    def __init__(self, broken: bool) -> None:
        self.broken = broken
        self.graphs: list[StandInGraphs.Graph] = []

    class Graph:
        def __init__(self, run_pass: Callable[[], Any], output: Any, broken: bool) -> None:
            self.run_pass, self.output, self.broken, self.replays = run_pass, output, broken, 0

        def replay(self) -> None:
            self.replays += 1
            out = self.run_pass()
            self.output.copy_(out * 0 if self.broken else out)

    def __call__(self, run_pass: Callable[[], Any], rewind: Callable[[], None]) -> tuple[Any, Any]:
        import torch

        shape = run_pass().shape  # a real capture runs nothing; here one eager pass tells the output's shape
        rewind()
        self.graphs.append(self.Graph(run_pass, torch.zeros(shape), self.broken))
        return self.graphs[-1], self.graphs[-1].output


@pytest.mark.parametrize("broken", [False, True], ids=["sound", "broken"])
def test_graph_replays_are_checked_once_against_an_eager_pass(
    pair: tuple[TransformersBackend, TransformersBackend], broken: bool,
) -> None:
    ours, reference = pair
    reseed(pair, 11)
    graphs = StandInGraphs(broken)
    engine = StepEngine(ours.model, ours.tokenizer, FastVision(ours.visual), lambda: None, capture=graphs)
    assert engine.use_graphs
    request = request_for(ours, SPACES["computer"], screenshot(150, 100, 11), "Go.")
    got = engine.run(ours.prepare(request.messages).prompt, TokenChooser(ours.stop_token_ids, min_new_tokens=16), 16)
    want, _ = reference.run(reference.prepare(request.messages), None, 16, 16)
    assert got.token_ids == want
    assert len(graphs.graphs) == len(CHUNK_BUCKETS)
    # A sound graph keeps serving every decode pass; a broken one is caught at its first replay and dropped.
    assert engine.use_graphs is not broken
    assert sum(g.replays for g in graphs.graphs) == (1 if broken else 15)
    # The GPU check's look at every graph: none are left once one was dropped; sound ones match their eager pass,
    # one gone bad since does not, and the cache is as it was after either.
    cached = engine.cached_tokens
    assert engine.captured_buckets == ([] if broken else sorted(CHUNK_BUCKETS))
    assert engine.replay_differences() == ({} if broken else {b: (0.0, True) for b in CHUNK_BUCKETS})
    for g in graphs.graphs:
        g.broken = True
    assert broken or all(not within for _, within in engine.replay_differences().values())
    assert engine.cached_tokens == cached


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
