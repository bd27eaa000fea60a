"""The benchmark's results: the machine it ran on, the JSON it writes and the table it prints."""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.bench.options import BenchOptions
from agent.bench.steps import COUNTS, PHASES, VARIANTS, PeakMemory, ScreenResult


def environment(options: BenchOptions) -> dict[str, Any]:
    import torch
    import transformers

    from agent.models.devices import pick_attention, pick_device, pick_dtype

    device = pick_device(options.device)
    dtype = pick_dtype(options.dtype, device)
    if device.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(device))
    else:
        name = _cpu_name()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "device": device,
        "device_name": name,
        "dtype": str(dtype).removeprefix("torch."),
        "attention": pick_attention(options.attn_implementation, device, dtype),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


@dataclass
class BenchReport:
    environment: dict[str, Any]
    options: BenchOptions
    models: list[dict[str, Any]]
    results: list[ScreenResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "options": asdict(self.options),
            "memory": PeakMemory(self.environment["device"]).kind,
            "models": self.models,
            "results": [
                {
                    "arch": r.arch,
                    "screen": list(r.screen),
                    "model_image": list(r.model_image),
                    "image_tokens": r.image_tokens,
                    "prompt_tokens": r.prompt_tokens,
                    "greedy_identical": r.greedy_identical,
                    "variants": {
                        name: {
                            "median": r.summary[name],
                            "runs": [
                                {**{k: v for k, v in asdict(run).items() if k != "token_ids"},
                                 "decode_ms_per_token": run.decode_ms_per_token}
                                for run in r.runs[name]
                            ],
                            "token_ids": r.runs[name][0].token_ids,
                        }
                        for name in VARIANTS
                    },
                    "ratio_generate_over_ours": r.ratio,
                }
                for r in self.results
            ],
        }



# --- output ------------------------------------------------------------------------------------------------


def _fmt(key: str, value: float) -> str:
    if key in COUNTS:
        return f"{value:.0f}"
    if key == "peak_memory_mib":
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


COLUMNS = ("arch", "screen → model image (tokens)", "phase", "generate", "ours", "ratio")
# Numbers read right-aligned.
NUMERIC = frozenset({"generate", "ours", "ratio"})


def table_title(report: dict[str, Any]) -> str:
    """The title of the table for one bench JSON (`BenchReport.to_json()`)."""
    env, opts = report["environment"], report["options"]
    memory = "GPU allocated" if env["device"].startswith("cuda") else "process RSS"
    return (f"One agent step: {opts['new_tokens']} new tokens, {env['dtype']}, {env['attention']} "
            f"on {env['device_name']} (median of {opts['repeats']}; peak memory = {memory})")


def table_caption(report: dict[str, Any]) -> str:
    return ("generate = plain model.generate (cookbook); ours = TransformersBackend.prepare/run "
            "(prompt start reused from the step before, as within an episode); "
            "ratio = generate / ours (above 1: ours faster)"
            + ("; ours is constrained, so it stops when its tool call closes: compare decode ms/token"
               if report["options"]["constrained"] else ""))


def table_sections(report: dict[str, Any]) -> list[list[tuple[str, ...]]]:
    """The table's rows (one tuple of COLUMNS each), one section per arch and screen, from a bench JSON; the
    terminal's table and gpu_check's markdown are both made of these."""
    sections = []
    for result in report["results"]:
        width, height = result["screen"]
        model_width, model_height = result["model_image"]
        screen = (f"{width}x{height} → {model_width}x{model_height} "
                  f"({result['prompt_tokens']} prompt, {result['image_tokens']} image)")
        generate, ours = result["variants"]["generate"]["median"], result["variants"]["ours"]["median"]
        ratio = result["ratio_generate_over_ours"]
        rows = []
        for i, (key, label) in enumerate(PHASES):
            r = ratio.get(key)
            rows.append((result["arch"] if i == 0 else "", screen if i == 0 else "", label, _fmt(key, generate[key]),
                         _fmt(key, ours[key]), f"{r:.2f}x" if r is not None else ""))
        if result["greedy_identical"] is not None:
            rows.append(("", "", "greedy tokens identical", "", "yes" if result["greedy_identical"] else "NO", ""))
        sections.append(rows)
    return sections


def render_table(report: BenchReport) -> Any:
    from rich.table import Table

    data = report.to_json()
    table = Table(title=table_title(data), caption=table_caption(data))
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in NUMERIC else "left")
    for rows in table_sections(data):
        for row in rows:
            table.add_row(*row)
        table.add_section()
    return table


def markdown_table(report: dict[str, Any]) -> str:
    """The same table as `render_table`, in markdown, from a bench JSON."""
    lines = [f"**{table_title(report)}**", "", "| " + " | ".join(COLUMNS) + " |",
             "| " + " | ".join("---:" if c in NUMERIC else "---" for c in COLUMNS) + " |"]
    for rows in table_sections(report):
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines, "", table_caption(report), ""])
