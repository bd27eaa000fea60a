"""Our prefill and decode loop for one agent step, replacing `model.generate` in the local backend.

What it does that `generate` does not, each aimed at a cost measured in plain `generate` (README "Speed"):

- a static KV cache kept across steps, so the unchanged start of the prompt (system prompt, tool schema,
  task) is not prefilled again: only the tokens from the first difference on are;
- decode passes replayed from captured CUDA graphs (on a GPU), so a token costs the GPU's time to read the
  weights instead of hundreds of Python-dispatched kernel launches; the first replay is checked against an
  eager pass, and any failure falls back to eager decoding;
- grammar drafting: where the grammar forces the next characters (`{"name": "computer_use", ...`), their
  tokens are fed as a draft and checked by the model in the same forward pass, keeping each drafted token only
  where it is the one greedy decoding would have picked; the output is the same tokens, in fewer passes;
- 3D rotary positions computed on the host from the token ids before anything moves to the device.

Greedy output is token-for-token that of `generate` on the same inputs (tests/models/test_engine.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from agent.models import transformers_fence as fence
from agent.models.cuda_graphs import CudaGraphs, GraphCapture
from agent.models.token_chooser import TokenChooser

# Chunk lengths a forward pass is padded to after prefill: one decode token, or one token plus a draft.
# Each has its own CUDA graph; drafts longer than the largest are cut.
CHUNK_BUCKETS: tuple[int, ...] = (1, 4, 8, 16)
# How far a graph's replayed logits may lie from the same pass run eagerly (torch.allclose's rtol and atol).
GRAPH_TOLERANCE = 1e-2
# The cache is allocated in multiples of this many tokens.
CACHE_GRANULE = 1024
@dataclass
class PromptTensors:
    """One prompt, ready for the engine: token ids on the host and device, positions, pixels."""

    ids: list[int]  # the prompt's token ids, on the host
    input_ids: Any  # (1, N) long tensor on the model's device
    positions: Any  # (3, 1, N) long tensor on the model's device: Qwen2.5-VL's temporal/height/width rotary positions
    rope_delta: int  # the position of token i after the prompt is i + rope_delta
    pixel_values: Any | None  # (patches, C*T*P*P) on the device, in the model's dtype
    grids: list[tuple[int, int, int]]  # (t, h, w) in patches, per image, on the host
    image_token_id: int

    @property
    def first_image_index(self) -> int | None:
        try:
            return self.ids.index(self.image_token_id)
        except ValueError:
            return None


def rope_positions(model: Any, inputs: Any) -> tuple[Any, int]:
    """Qwen2.5-VL's 3D rotary positions for a processor output still on the CPU, and the text offset after it.

    Computed here, on the host tensors, because the model computes them with a Python loop over token groups
    that would otherwise read device tensors back (one sync per group).
    """
    import torch

    input_ids = inputs["input_ids"]
    if inputs.get("image_grid_thw") is None:
        length = input_ids.shape[1]
        return torch.arange(length).view(1, 1, -1).expand(3, 1, -1).clone(), 0
    return fence.rope_index(model, input_ids, inputs["mm_token_type_ids"], inputs["image_grid_thw"])


@dataclass
class Decoded:
    """What one `StepEngine.run` produced, with its stage boundaries (perf_counter seconds)."""

    token_ids: list[int]
    start: float
    vision_end: float | None
    first_token: float
    end: float
    reused_prefix: int  # prompt tokens whose KV came from the previous step
    forward_passes: int  # after prefill: decode steps plus draft checks
    drafted: int = 0  # drafted tokens the model confirmed (each one a forward pass saved)


class StepEngine:
    """Prefill and decode over one static KV cache that outlives the step.

    `encode_images(pixel_values, grids)` returns the merged image embeddings in prompt order; the backend
    passes the fast vision path or the model's own. Decode passes are replayed from graphs that `capture`
    records: CUDA graphs by default on one GPU, none elsewhere.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        encode_images: Callable[[Any, list[tuple[int, int, int]]], Any],
        synchronize: Callable[[], None],
        cuda_graphs: bool = True,
        draft: bool = True,
        capture: GraphCapture | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.encode_images = encode_images
        self.synchronize = synchronize
        self.device = model.device
        # A model sharded over several GPUs (device_map="auto") runs on more than the one stream a graph records.
        sharded = len(set(getattr(model, "hf_device_map", {}).values())) > 1
        if capture is None and self.device.type == "cuda" and not sharded:
            capture = CudaGraphs()
        self.capture = capture
        self.use_graphs = cuda_graphs and capture is not None
        self.draft = draft
        self._cache: Any | None = None
        self._capacity = 0
        self._length = 0  # tokens in the cache
        self._cached_ids: list[int] = []  # the token behind each cache slot below _length
        self._buffers: _ChunkBuffers | None = None
        self._graphs: dict[int, Any] = {}
        self._rope_delta = 0

    # --- the cache ---------------------------------------------------------------------------------------

    def _ensure_capacity(self, tokens: int) -> None:
        if tokens <= self._capacity:
            return
        # Room to grow: a new allocation drops the reusable prompt start (and the graphs), and an episode's
        # prompt grows a little every step with the progress text.
        capacity = -(-(tokens + tokens // 4 + CACHE_GRANULE) // CACHE_GRANULE) * CACHE_GRANULE
        logger.debug("allocating a static KV cache of {} tokens", capacity)
        self.reset()  # the old cache goes before the new one is allocated
        self._cache = fence.static_cache(self.model, capacity)
        self._capacity = capacity
        self._buffers = _ChunkBuffers(capacity, self.device)

    def _truncate(self, length: int) -> None:
        """Forget cache slots from `length` on (they are overwritten later; the mask hides them until then)."""
        if length < self._length:
            fence.drop_last(self._cache, self._length - length)
        self._length = length
        del self._cached_ids[length:]

    @property
    def cached_tokens(self) -> int:
        """Tokens whose keys and values the cache holds now (the last step's prompt and answer)."""
        return self._length

    def reset(self) -> None:
        """Drop the cache (the next step prefills from scratch)."""
        self._cache = None
        self._capacity = 0
        self._length = 0
        self._cached_ids = []
        self._graphs.clear()

    # --- one step ----------------------------------------------------------------------------------------

    def run(self, prompt: PromptTensors, chooser: TokenChooser, max_new_tokens: int) -> Decoded:
        try:
            return self._run(prompt, chooser, max_new_tokens)
        except BaseException:
            # A pass cut short (out of memory, Ctrl-C) may have written some layers' caches and not others.
            self.reset()
            raise

    def _run(self, prompt: PromptTensors, chooser: TokenChooser, max_new_tokens: int) -> Decoded:
        import torch

        total = len(prompt.ids)
        self.synchronize()
        start = time.perf_counter()
        with torch.inference_mode():
            self._ensure_capacity(total + max_new_tokens + max(CHUNK_BUCKETS))
            reused = self._reusable_prefix(prompt)
            self._truncate(reused)
            logits, vision_end = self._prefill(prompt, reused)
            token = chooser.choose(logits)
            first_token = time.perf_counter()
            out, passes, drafted = self.decode(token, chooser, max_new_tokens)
            self.synchronize()
            end = time.perf_counter()
        return Decoded(out, start, vision_end, first_token, end, reused, passes, drafted)

    def decode(self, token: int, chooser: TokenChooser, max_new_tokens: int) -> tuple[list[int], int, int]:
        """From the first new token on: (all new tokens, passes run, drafted tokens confirmed)."""
        out = [token]
        passes = drafted = 0
        while not chooser.is_stop(token) and len(out) < max_new_tokens:
            room = max_new_tokens - len(out)
            draft = self._draft(chooser, min(room, max(CHUNK_BUCKETS)) - 1)
            rows = self._forward_chunk([token, *draft])
            passes += 1
            accepted = 0
            for i in range(len(rows)):
                token = chooser.choose(rows[i])
                out.append(token)
                if i < len(draft) and token == draft[i] and not chooser.is_stop(token):
                    accepted += 1
                    continue
                break
            drafted += accepted
            # The chunk fed [previous token, *draft]; keep the previous token and the confirmed draft.
            self._truncate(self._length - len(draft) + accepted)
        return out, passes, drafted

    def _reusable_prefix(self, prompt: PromptTensors) -> int:
        """How many leading prompt tokens already sit in the cache with the same positions.

        Only text before the first image counts: image tokens are all the same id whatever the pixels, and
        at least one token is left to prefill, which gives the first logits.
        """
        limit = len(prompt.ids) - 1
        first_image = prompt.first_image_index
        if first_image is not None:
            limit = min(limit, first_image)
        n = 0
        cached = self._cached_ids
        bound = min(limit, len(cached))
        while n < bound and cached[n] == prompt.ids[n]:
            n += 1
        return n

    def _prefill(self, prompt: PromptTensors, start: int) -> tuple[Any, float | None]:
        import torch

        model = self.model
        input_ids = prompt.input_ids[:, start:]
        embeds = model.get_input_embeddings()(input_ids)
        vision_end = None
        if prompt.pixel_values is not None:
            image_embeds = self.encode_images(prompt.pixel_values, prompt.grids)
            self.synchronize()
            vision_end = time.perf_counter()
            # Image token positions are known on the host: an index put, with no mask read back from the device.
            where = [i - start for i, t in enumerate(prompt.ids) if t == prompt.image_token_id and i >= start]
            index = torch.tensor(where, device=embeds.device)
            embeds[0, index] = image_embeds.to(embeds.dtype)
        logits = fence.prefill_logits(model, self._cache, embeds, prompt.positions[:, :, start:], len(prompt.ids))
        self._length = len(prompt.ids)
        self._cached_ids = list(prompt.ids)
        self._rope_delta = prompt.rope_delta
        return logits, vision_end

    def _draft(self, chooser: TokenChooser, room: int) -> list[int]:
        if not self.draft or room <= 0:
            return []
        text = chooser.forced_text()
        if not text:
            return []
        return list(self.tokenizer.encode(text, add_special_tokens=False))[:room]

    def _forward_chunk(self, tokens: list[int]) -> Any:
        """Feed `tokens` after the cache; logits for each, as (len(tokens), vocab).

        The chunk is padded to a bucket length so each length has one CUDA graph; the padding's cache slots
        are dropped right after.
        """
        n = len(tokens)
        bucket = next(b for b in CHUNK_BUCKETS if b >= n)
        buffers = self._buffers
        fresh = self.use_graphs and not self._graphs
        if fresh:
            self._capture_all()
        buffers.load(tokens, bucket, self._length, self._rope_delta)
        if self.use_graphs:
            self._graphs[bucket].replay()
            logits = buffers.logits[bucket]
            if fresh:
                logits = self._check_graph(bucket, logits)
        else:
            logits = self._forward_buffers(bucket)
        self._cached_ids.extend(tokens)
        self._length += n
        fence.drop_last(self._cache, bucket - n)  # the padding's slots
        return logits[:n]

    def _check_graph(self, bucket: int, replayed: Any) -> Any:
        """The first replay after a capture, checked against the same pass run eagerly; the eager logits.

        A graph holds any value its pass computed on the host as a constant: if a transformers change made
        the pass depend on one, replays would silently decode garbage. The eager pass rewrites the same cache
        slots, so the cache is right either way.
        """
        import torch

        replayed = replayed.clone()
        fence.drop_last(self._cache, bucket)
        eager = self._forward_buffers(bucket)
        if not torch.allclose(replayed.float(), eager.float(), rtol=GRAPH_TOLERANCE, atol=GRAPH_TOLERANCE):
            self.use_graphs = False
            self._graphs.clear()
            logger.warning("a CUDA graph replay disagreed with the same pass run eagerly; decoding without graphs, "
                           "several times slower per token")
        return eager

    @property
    def captured_buckets(self) -> list[int]:
        """The chunk lengths whose passes are replayed from a captured graph now (none without graphs)."""
        return sorted(self._graphs)

    def replay_differences(self) -> dict[int, tuple[float, bool]]:
        """For each captured graph: its replay at the cache's current end, then the same pass run eagerly; the
        largest difference between their logits, and whether all are within the tolerance the first replay is
        held to. A check of the graphs (scripts/gpu_check.sh), not a decode step: the cache is left as it was."""
        import torch

        worst: dict[int, tuple[float, bool]] = {}
        with torch.inference_mode():
            for bucket in self.captured_buckets:
                self._buffers.load([self._cached_ids[-1]] * bucket, bucket, self._length, self._rope_delta)
                self._graphs[bucket].replay()
                replayed = self._buffers.logits[bucket].float().clone()
                fence.drop_last(self._cache, bucket)
                eager = self._forward_buffers(bucket).float()
                fence.drop_last(self._cache, bucket)
                worst[bucket] = (float((replayed - eager).abs().max()),
                                 torch.allclose(replayed, eager, rtol=GRAPH_TOLERANCE, atol=GRAPH_TOLERANCE))
        return worst

    def _forward_buffers(self, bucket: int) -> Any:
        buffers = self._buffers
        return fence.chunk_logits(self.model, self._cache, buffers.ids[:, :bucket], buffers.positions[bucket],
                                  buffers.masks[bucket])

    def _capture_all(self) -> None:
        """Record each bucket's padded forward pass as a CUDA graph (once per cache allocation); replays read
        the buffers' current contents.

        When this model's pass cannot be captured (a transformers change that reads a device value back, say),
        decoding goes on without graphs, slower, and says so once.
        """
        try:
            for bucket in CHUNK_BUCKETS:
                # Real token ids and positions, so the warm-up passes write finite keys and values into the
                # slots they use (a later pass overwrites them, and masks them until then).
                self._buffers.load([self._cached_ids[-1]] * bucket, bucket, self._length, self._rope_delta)
                self._graphs[bucket] = self._record(bucket)
        except RuntimeError as exc:
            self.use_graphs = False
            self._graphs.clear()
            logger.warning("CUDA graph capture failed ({}); decoding without graphs, several times slower per token",
                           exc)

    def _record(self, bucket: int) -> Any:
        started = time.perf_counter()
        length = self._length
        graph, self._buffers.logits[bucket] = self.capture(lambda: self._forward_buffers(bucket),
                                                           lambda: fence.drop_last(self._cache, bucket))
        # Capturing records the kernels without running them: the cache length is where it was.
        assert self._length == length
        logger.debug("captured the {}-token forward pass as a graph in {:.2f} s", bucket, time.perf_counter() - started)
        return graph


@dataclass
class _ChunkBuffers:
    """Fixed-address inputs and outputs of the padded forward passes (CUDA graphs read and write them).

    The attention mask is ours, 4D, so transformers takes it as-is: building it from the cache's length
    would read that length back from the GPU, which a graph being captured cannot do.
    """

    capacity: int  # cache slots
    device: Any
    ids: Any = field(init=False)
    positions: dict[int, Any] = field(init=False)
    masks: dict[int, Any] = field(init=False)
    logits: dict[int, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        import torch

        self.ids = torch.zeros((1, max(CHUNK_BUCKETS)), dtype=torch.long, device=self.device)
        self.positions = {b: torch.zeros((3, 1, b), dtype=torch.long, device=self.device) for b in CHUNK_BUCKETS}
        # SDPA reads a boolean mask as "may attend".
        self.masks = {b: torch.zeros((1, 1, b, self.capacity), dtype=torch.bool, device=self.device)
                      for b in CHUNK_BUCKETS}

    def load(self, tokens: list[int], bucket: int, slot: int, rope_delta: int) -> None:
        """Tokens for cache slots slot, slot+1, ... (padded to `bucket`), each seeing the slots up to its own."""
        import torch

        padded = tokens + [tokens[-1]] * (bucket - len(tokens))
        self.ids[0, :bucket].copy_(torch.tensor(padded))
        rows = torch.arange(slot, slot + bucket)
        # After the prompt, text positions advance together on all three rotary axes.
        self.positions[bucket].copy_((rows + rope_delta).view(1, 1, -1).expand(3, 1, -1))
        self.masks[bucket].copy_((torch.arange(self.capacity).view(1, -1) <= rows.view(-1, 1)).view(1, 1, bucket, -1))


__all__ = ["CHUNK_BUCKETS", "CudaGraphs", "Decoded", "GraphCapture", "PromptTensors", "StepEngine", "TokenChooser",
           "rope_positions"]
