"""How the local engine (agent/models/engine.py) records a decode pass once and replays it: CUDA graphs, so a
token costs the GPU's time to read the weights rather than hundreds of kernel launches from Python."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class GraphCapture(Protocol):
    """Records a forward pass so it can be replayed: (the graph, the output tensor every replay rewrites).

    `run_pass` runs the pass eagerly (it advances the cache); `rewind` undoes that advance.
    """

    def __call__(self, run_pass: Callable[[], Any], rewind: Callable[[], None]) -> tuple[Any, Any]: ...


class CudaGraphs:
    """Captures passes as CUDA graphs; one engine's graphs share one memory pool."""

    def __init__(self) -> None:
        self.pool: Any | None = None

    def __call__(self, run_pass: Callable[[], Any], rewind: Callable[[], None]) -> tuple[Any, Any]:
        import torch

        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            # Warm-up runs allocate workspaces outside the graph; each advanced the cache, so rewind it.
            for _ in range(2):
                run_pass()
                rewind()
        torch.cuda.current_stream().wait_stream(stream)
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            # The pass's output tensor belongs to the graph: every replay rewrites it in place.
            output = run_pass()
        return graph, output
