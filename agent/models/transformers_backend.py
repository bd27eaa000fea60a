"""The local backend: Qwen2.5-VL through transformers, with constrained decoding.

One step runs in three stages that are timed apart:

1. preprocess: chat template, then image resizing and patching by the checkpoint's own processor (on the
   model's device, so a GPU does the resizing), and the rotary positions on the host;
2. prefill: the vision encoder, then the language model over the prompt (ends at the first token);
3. decode: one token at a time under the grammar until the tool call closes.

Stages 2 and 3 run in our engine (`engine.py`) or, with `engine="generate"`, in transformers' `generate`,
the reference our engine's greedy output is checked against.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from actions.geometry import GeometryError, ImageBudget
from agent.models.base import Finish, Generation, GenerationRequest, ModelError
from agent.models import transformers_fence as fence
from agent.models.devices import device_map, pick_attention, pick_device, pick_dtype
from agent.models.engine import PromptTensors, StepEngine, rope_positions
from agent.models.grammar import ToolCallGrammars
from agent.models.grammar_cache import grammar_cache_dir
from agent.models.loading import check_vision_tokens, read_checkpoint_config, resolve_checkpoint
from agent.models.settings import ModelSettings
from agent.models.stage_clock import StageClock
from agent.models.token_chooser import TokenChooser
from prompts.messages import ChatMessage, to_hf_messages


@dataclass(frozen=True)
class StepTimings:
    """Where one generation's time went, in seconds. On a GPU each stage ends with a synchronise."""

    preprocess_s: float
    vision_s: float
    prefill_s: float  # vision encoder included
    decode_s: float
    prompt_tokens: int
    new_tokens: int
    reused_tokens: int = 0  # prompt tokens whose KV cache came from the previous step
    forward_passes: int = 0  # model passes after prefill (fewer than new_tokens - 1 when drafts were confirmed)

    @property
    def decode_s_per_token(self) -> float:
        return self.decode_s / max(self.new_tokens - 1, 1)


@dataclass
class PreparedInputs:
    """The processor's output for one request, on the model's device."""

    inputs: Any  # transformers BatchFeature
    prompt: PromptTensors
    image_sizes: list[tuple[int, int]]
    prompt_tokens: int
    preprocess_s: float


def _apply_pixel_limits(image_processor: Any, settings: ModelSettings) -> ImageBudget:
    """Apply the settings' min/max pixels over the checkpoint's and return the budget images get.

    The processor is changed after loading: loading arguments lose against the flat min_pixels/max_pixels
    of the released preprocessor_config.json, or linger as deprecated per-call arguments.
    """
    size = image_processor.size
    min_pixels = settings.min_pixels if settings.min_pixels is not None else int(size["shortest_edge"])
    max_pixels = settings.max_pixels if settings.max_pixels is not None else int(size["longest_edge"])
    try:
        budget = ImageBudget(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            factor=int(image_processor.patch_size * image_processor.merge_size),
        )
    except GeometryError as exc:
        raise ModelError(f"with this checkpoint's pixel limits: {exc}") from None
    fence.set_pixel_limits(image_processor, min_pixels, max_pixels)
    return budget


class TransformersBackend:
    """Qwen2.5-VL from a local directory or the local Hugging Face cache, run in this process."""

    def __init__(self, settings: ModelSettings) -> None:
        from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

        fence.check_versions()  # before seconds of loading, not at the first step
        self.settings = settings
        self.checkpoint: Path = resolve_checkpoint(settings.model)
        config = read_checkpoint_config(self.checkpoint)
        self.device = pick_device(settings.device)
        self.dtype = pick_dtype(settings.dtype, self.device)
        self.name = f"transformers:{settings.model}"

        started = time.perf_counter()
        try:
            self.processor = AutoProcessor.from_pretrained(self.checkpoint)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"the processor files in {self.checkpoint} do not load ({exc}); fetch the checkpoint again"
            ) from None
        check_vision_tokens(self.processor.tokenizer, config, self.checkpoint)
        self._attach_processor(self.processor)

        attention = pick_attention(settings.attn_implementation, self.device, self.dtype, settings.engine)
        try:
            self.model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
                self.checkpoint, dtype=self.dtype, attn_implementation=attention,
                device_map=device_map(settings.device, self.device),
            ).eval()
        except (OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"the weights in {self.checkpoint} do not load on {self.device}: {exc}") from None

        self._attach_model(self.model)
        logger.info(
            "loaded {} from {} on {} ({}, {} attention, pixels {}..{}) in {:.1f} s",
            settings.model,
            self.checkpoint,
            self.device,
            str(self.dtype).removeprefix("torch."),
            attention,
            self.image_budget.min_pixels,
            self.image_budget.max_pixels,
            time.perf_counter() - started,
        )

    @classmethod
    def from_model(cls, settings: ModelSettings, model: Any, processor: Any, name: str) -> TransformersBackend:
        """A backend around a model and processor built in memory, with no checkpoint directory.

        The benchmark builds random-weight 3B/7B architectures this way (no download) and must time the very
        prepare/run path that `__init__` sets up; `settings.device`/`dtype` are ignored for the model's own.
        """
        fence.check_versions()
        backend = cls.__new__(cls)
        backend.settings = settings
        backend.checkpoint = Path(name)
        backend.device = str(model.device)
        backend.dtype = model.dtype
        backend.name = name
        backend.processor = processor
        backend._attach_processor(processor)
        backend.model = model.eval()
        backend._attach_model(backend.model)
        return backend

    def _attach_processor(self, processor: Any) -> None:
        self.tokenizer = processor.tokenizer
        self.image_budget = _apply_pixel_limits(processor.image_processor, self.settings)
        self._patch_size = int(processor.image_processor.patch_size)

    def _attach_model(self, model: Any) -> None:
        import torch

        self.stop_token_ids = self._stop_token_ids()
        self.grammars: ToolCallGrammars | None = None
        if self.settings.constrained:
            self.grammars = ToolCallGrammars(
                self.tokenizer, vocab_size=model.config.text_config.vocab_size, stop_token_ids=self.stop_token_ids,
                cache_dir=grammar_cache_dir(),
            )
        self._synchronize = torch.cuda.synchronize if self.device.startswith("cuda") else (lambda: None)
        self._image_token_id = int(model.config.image_token_id)
        from agent.models.vision_fast import FastVision

        if self.settings.engine == "fast":
            fence.use_engine_attention(model)
        self.engine = StepEngine(model, self.tokenizer, FastVision(self.visual), self._synchronize)
        self.last_timings: StepTimings | None = None

    def _stop_token_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end not in ids:
            ids.append(im_end)
        if not ids:
            raise ModelError(f"{self.checkpoint} names no end-of-turn token; its generation_config.json is broken")
        return ids

    @property
    def visual(self) -> Any:
        return fence.vision_tower(self.model)

    # Stage 1: preprocessing.
    def prepare(self, messages: list[ChatMessage]) -> PreparedInputs:
        started = time.perf_counter()
        hf_messages, images = to_hf_messages(messages)
        text = self.processor.apply_chat_template(hf_messages, add_generation_prompt=True, tokenize=False)
        # `device`: the processor resizes and normalises the images there (its torchvision path), which on the
        # CPU took 40-90 ms per screenshot (shared/PERF_NOTES.md).
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt", device=self.device)
        grids: list[tuple[int, int, int]] = []
        image_sizes: list[tuple[int, int]] = []
        if images:
            grids = [tuple(int(v) for v in row) for row in inputs["image_grid_thw"].tolist()]
            # The model saw grid * patch pixels per side: the exact frame its coordinates refer to.
            image_sizes = [(w * self._patch_size, h * self._patch_size) for _, h, w in grids]
        positions, rope_delta = rope_positions(self.model, {k: v.cpu() for k, v in inputs.items()
                                                            if k in ("input_ids", "mm_token_type_ids", "image_grid_thw")})
        ids = inputs["input_ids"][0].tolist()
        inputs = inputs.to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        prompt = PromptTensors(
            ids=ids,
            input_ids=inputs["input_ids"],
            positions=positions.to(self.device),
            rope_delta=rope_delta,
            pixel_values=inputs.get("pixel_values"),
            grids=grids,
            image_token_id=self._image_token_id,
        )
        return PreparedInputs(
            inputs=inputs,
            prompt=prompt,
            image_sizes=image_sizes,
            prompt_tokens=len(ids),
            preprocess_s=time.perf_counter() - started,
        )

    def grammar(self, request: GenerationRequest) -> Any | None:
        """The compiled grammar for the request's action space and image size (None when unconstrained)."""
        if self.grammars is None:
            return None
        width, height = request.image_size
        thought = self.settings.max_thought_tokens if self.settings.allow_thought else None
        return self.grammars.compiled(request.space, width, height, thought)

    # Stages 2 and 3: prefill and decode, timed apart.
    def run(
        self, prepared: PreparedInputs, grammar: Any | None = None, max_new_tokens: int | None = None,
        min_new_tokens: int = 0,
    ) -> tuple[list[int], StepTimings]:
        """Generate from prepared inputs under an optional compiled grammar. `min_new_tokens` holds the stop
        tokens back that long (benchmarks force a fixed answer length with it)."""
        import torch

        max_new_tokens = max_new_tokens or self.settings.max_new_tokens
        if self.settings.temperature > 0 and self.settings.seed is not None:
            torch.manual_seed(self.settings.seed)
        try:
            if self.settings.engine == "generate":
                return self._run_generate(prepared, grammar, max_new_tokens, min_new_tokens)
            chooser = TokenChooser(self.stop_token_ids, grammar, self.settings.temperature, min_new_tokens)
            decoded = self.engine.run(prepared.prompt, chooser, max_new_tokens)
        except torch.cuda.OutOfMemoryError as exc:
            raise ModelError(
                f"out of GPU memory generating from {prepared.prompt_tokens} prompt tokens ({exc}); "
                "lower max_pixels or use a smaller model"
            ) from None
        return decoded.token_ids, StepTimings(
            preprocess_s=prepared.preprocess_s,
            vision_s=(decoded.vision_end - decoded.start) if decoded.vision_end is not None else 0.0,
            prefill_s=decoded.first_token - decoded.start,
            decode_s=decoded.end - decoded.first_token,
            prompt_tokens=prepared.prompt_tokens,
            new_tokens=len(decoded.token_ids),
            reused_tokens=decoded.reused_prefix,
            forward_passes=decoded.forward_passes,
        )

    def _generation_config(self, max_new_tokens: int, min_new_tokens: int, **extra: Any) -> Any:
        from transformers import GenerationConfig

        sampling = self.settings.temperature > 0
        # Every knob is set, because `generate` fills unset ones from the checkpoint's generation_config.json
        # (the released one: top_k=1, top_p=0.001, repetition_penalty=1.05). Greedy means plain argmax;
        # sampling means plain temperature sampling. The greedy values are transformers' neutral defaults.
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=sampling,
            temperature=self.settings.temperature if sampling else 1.0,
            top_p=1.0,
            top_k=0 if sampling else 50,
            repetition_penalty=1.0,
            eos_token_id=self.stop_token_ids,
            pad_token_id=self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_token_ids[0],
            **extra,
        )

    def generate_output(
        self, prepared: PreparedInputs, grammar: Any | None, max_new_tokens: int, min_new_tokens: int,
        processors: tuple[Any, ...] = (), **generate_kwargs: Any,
    ) -> Any:
        """transformers' own `generate` on prepared inputs, under this backend's decoding settings and the
        grammar: the reference our engine is checked against. `generate_kwargs` are more generation settings
        (the GPU tests ask for `output_scores`)."""
        import torch
        from transformers import LogitsProcessorList

        if grammar is not None:
            from xgrammar.contrib.hf import LogitsProcessor

            processors += (LogitsProcessor(grammar),)
        with torch.inference_mode():
            return self.model.generate(
                **prepared.inputs,
                generation_config=self._generation_config(max_new_tokens, min_new_tokens, **generate_kwargs),
                logits_processor=LogitsProcessorList(processors),
            )

    def _run_generate(
        self, prepared: PreparedInputs, grammar: Any | None, max_new_tokens: int, min_new_tokens: int
    ) -> tuple[list[int], StepTimings]:
        clock = StageClock(self._synchronize)
        visual = self.visual
        hook = visual.register_forward_hook(clock.vision_done) if visual is not None else None
        try:
            self._synchronize()
            clock.start = time.perf_counter()
            output = self.generate_output(prepared, grammar, max_new_tokens, min_new_tokens, (clock,))
            self._synchronize()
            finished = time.perf_counter()
        finally:
            if hook is not None:
                hook.remove()
        new_ids = output[0, prepared.prompt_tokens :].tolist()
        first = clock.first_logits or finished
        timings = StepTimings(
            preprocess_s=prepared.preprocess_s,
            vision_s=(clock.vision_end - clock.start) if clock.vision_end is not None else 0.0,
            prefill_s=first - clock.start,
            decode_s=finished - first,
            prompt_tokens=prepared.prompt_tokens,
            new_tokens=len(new_ids),
            forward_passes=max(len(new_ids) - 1, 0),
        )
        return new_ids, timings

    def generate(self, request: GenerationRequest) -> Generation:
        prepared = self.prepare(request.messages)
        if prepared.image_sizes and tuple(request.image_size) != prepared.image_sizes[-1]:
            # The prompt states one size, the model sees another: coordinates would be off by the ratio.
            logger.warning(
                "request.image_size {} differs from the last image as the model sees it {}; the prompt's stated "
                "resolution and this backend's image_budget disagree",
                request.image_size,
                prepared.image_sizes[-1],
            )
        new_ids, timings = self.run(prepared, self.grammar(request))
        self.last_timings = timings
        # Both engines stop on an end-of-turn token or at max_new_tokens, nothing else.
        finish: Finish = "end_of_turn" if new_ids and new_ids[-1] in self.stop_token_ids else "length"
        if finish == "length":
            logger.warning(
                "the answer used all {} new tokens without closing; raise max_new_tokens", self.settings.max_new_tokens
            )
        text = self.tokenizer.decode(new_ids, skip_special_tokens=True)
        logger.debug(
            "generated {} tokens in {} passes ({} prompt tokens reused): preprocess {:.3f} s, vision {:.3f} s, "
            "prefill {:.3f} s, decode {:.3f} s",
            timings.new_tokens,
            timings.forward_passes,
            timings.reused_tokens,
            timings.preprocess_s,
            timings.vision_s,
            timings.prefill_s,
            timings.decode_s,
        )
        return Generation(
            text=text,
            image_sizes=prepared.image_sizes,
            preprocess_s=timings.preprocess_s,
            generate_s=timings.prefill_s + timings.decode_s,
            prompt_tokens=timings.prompt_tokens,
            new_tokens=timings.new_tokens,
            finish=finish,
        )

    def close(self) -> None:
        import torch

        self.model = None
        self.grammars = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


__all__ = ["PreparedInputs", "StepTimings", "TransformersBackend", "to_hf_messages"]
