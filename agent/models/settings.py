"""How to run a model: one frozen settings object shared by every backend."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"


class ModelSettings(BaseModel):
    """Which model, where it runs, and how it decodes.

    Local fields (device, dtype, attn_implementation) matter to the transformers backend; base_url,
    api_key, timeout_s and max_retries to the OpenAI-compatible one. The rest apply to both.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(
        default=DEFAULT_MODEL,
        description="A Hugging Face model id (resolved from the local cache only) or a checkpoint directory; "
        "for a server, the model name it serves.",
    )
    device: str = Field(default="auto", description='"auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1".')
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        default="auto", description='"auto": bfloat16 on a GPU, float32 on the CPU.'
    )
    min_pixels: int | None = Field(default=None, gt=0, description="None: the checkpoint's preprocessor value.")
    max_pixels: int | None = Field(default=None, gt=0, description="None: the checkpoint's preprocessor value.")
    max_new_tokens: int = Field(default=256, gt=0, le=8192)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0 decodes greedily.")
    constrained: bool = Field(
        default=True, description="Constrain the answer to one valid tool call of the request's action space."
    )
    allow_thought: bool = Field(default=False, description="Let the model write free text before the tool call.")
    max_thought_tokens: int = Field(
        default=128, gt=0, description="With allow_thought: how many tokens the text before the tool call may take."
    )
    engine: Literal["fast", "generate"] = Field(
        default="fast",
        description='"fast": our decode loop (KV cache of the unchanged prompt start kept across steps, CUDA '
        'graphs on a GPU, grammar drafting, batched vision windows); "generate": transformers\' generate, '
        "the reference it is checked against.",
    )
    attn_implementation: str | None = Field(
        default=None,
        description='None: "sdpa" with the fast engine; with "generate", "flash_attention_2" on a GPU when '
        'flash-attn is installed, else "sdpa".',
    )
    seed: int | None = Field(default=None, description="Seeds sampling when temperature > 0.")
    # OpenAI-compatible servers (vLLM, SGLang).
    base_url: str | None = Field(default=None, description="e.g. http://localhost:8000/v1; set it to use a server.")
    api_key: str | None = Field(default=None, description="Sent as a bearer token; None sends none.")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)
    grammar_field: Literal["structured_outputs", "guided_grammar", "ebnf"] = Field(
        default="structured_outputs",
        description='Where the server reads the tool-call grammar: "structured_outputs" (vLLM 0.12 and later), '
        '"guided_grammar" (vLLM before 0.12), "ebnf" (SGLang).',
    )

    @model_validator(mode="after")
    def _check(self) -> ModelSettings:
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(
                f"min_pixels={self.min_pixels} is larger than max_pixels={self.max_pixels}; "
                "set min_pixels <= max_pixels"
            )
        if self.engine == "fast" and self.attn_implementation not in (None, "sdpa"):
            raise ValueError(
                f"engine 'fast' runs attention through SDPA, not {self.attn_implementation!r}; leave "
                "attn_implementation unset, or choose engine 'generate' to use it"
            )
        if self.allow_thought and self.max_thought_tokens >= self.max_new_tokens:
            raise ValueError(
                f"max_thought_tokens={self.max_thought_tokens} leaves no room for the tool call within "
                f"max_new_tokens={self.max_new_tokens}; raise max_new_tokens or lower max_thought_tokens"
            )
        return self

    @property
    def uses_server(self) -> bool:
        return self.base_url is not None and self.base_url.startswith(("http://", "https://"))


__all__ = ["DEFAULT_MODEL", "ModelSettings"]
