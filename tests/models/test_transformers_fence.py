"""One module, agent/models/transformers_fence.py, reaches into transformers' and torch's non-public surface, and it
refuses versions it is not tested with."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from agent.models import transformers_fence as fence
from agent.models.base import ModelError
from tests.support.paths import ROOT

PACKAGES = ("agent", "actions", "prompts", "environments", "evals")
FENCE = ROOT / "agent" / "models" / "transformers_fence.py"
# Top-level transformers names that are public but are exactly where the coupling lies: attention and mask
# registries and the cache whose crop rule the engine depends on.
COUPLED_NAMES = frozenset({"AttentionInterface", "AttentionMaskInterface", "Cache", "DynamicCache", "StaticCache"})
# torch modules documented as prototypes.
TORCH_PROTOTYPES = ("torch.nn.attention.bias",)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _non_public_module(module: str) -> bool:
    parts = module.split(".")
    if parts[0] == "transformers":
        return len(parts) > 1
    if parts[0] == "torch":
        return any(_private(p) for p in parts) or module.startswith(TORCH_PROTOTYPES)
    return False


def internals_used(source: str) -> list[str]:
    """Where `source` reaches past transformers' top-level names or into torch's private or prototype modules."""
    found: list[str] = []
    imported: set[str] = set()  # names bound from transformers or torch, whose private attributes count too
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _non_public_module(alias.name):
                    found.append(f"line {node.lineno}: import {alias.name}")
                if alias.name.split(".")[0] in ("transformers", "torch"):
                    imported.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root not in ("transformers", "torch"):
                continue
            if _non_public_module(node.module):
                found.append(f"line {node.lineno}: from {node.module} import ...")
            for alias in node.names:
                if _private(alias.name) or (node.module == "transformers" and alias.name in COUPLED_NAMES):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                imported.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            while isinstance(base, ast.Attribute | ast.Call | ast.Subscript):
                base = base.func if isinstance(base, ast.Call) else base.value
            if isinstance(base, ast.Name) and base.id in imported:
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def package_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_only_the_fence_reaches_into_transformers_internals() -> None:
    files = package_files()
    assert FENCE in files and len(files) > 50
    offenders = {str(path.relative_to(ROOT)): used for path in files if path != FENCE
                 for used in [internals_used(path.read_text(encoding="utf-8"))] if used}
    assert not offenders, f"move these into {FENCE.relative_to(ROOT)}: {offenders}"
    # The fence itself is what the check recognises (so the check is not blind to the forms used).
    assert len(internals_used(FENCE.read_text(encoding="utf-8"))) >= 5


@pytest.mark.parametrize("source", [
    "from transformers.masking_utils import sdpa_mask",
    "import transformers.models.qwen2_5_vl.modeling_qwen2_5_vl as m",
    "def f():\n    from transformers.integrations import sdpa_attention",
    "from transformers import StaticCache",
    "from transformers import Qwen2Tokenizer\nreference = Qwen2Tokenizer()._tokenizer",
    "from transformers import Qwen2_5_VLForConditionalGeneration as M\nmodel = M._from_config(config)",
    "import torch\nx = torch._dynamo.config",
    "from torch.nn.attention.bias import causal_lower_right",
    "from torch._C import _get_tracing_state",
])
def test_the_check_sees_each_way_in(source: str) -> None:
    assert internals_used(source), source


@pytest.mark.parametrize("source", [
    "from transformers import AutoProcessor, GenerationConfig, Qwen2_5_VLForConditionalGeneration",
    "import torch\nimport torch.nn.functional as F\nx = torch.cuda.graph_pool_handle()",
    "from torch.nn.attention import sdpa_kernel",
    "class A:\n    def f(self):\n        return self._cache.__class__",
])
def test_public_use_passes_the_check(source: str) -> None:
    assert internals_used(source) == []


def test_pyproject_pins_what_the_fence_checks() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    model_extra = pyproject["project"]["optional-dependencies"]["model"]
    assert fence.TRANSFORMERS_REQUIREMENT in model_extra and fence.TORCH_REQUIREMENT in model_extra


def test_the_installed_versions_are_supported() -> None:
    fence.check_versions.cache_clear()
    fence.check_versions()


@pytest.mark.parametrize(("package", "version"), [
    ("transformers", "5.25.0"), ("transformers", "5.23.2"), ("transformers", "6.0.0"), ("transformers", "not-a-version"),
    ("torch", "2.3.1"),
])
def test_an_unsupported_version_names_the_range_and_the_fix(monkeypatch: pytest.MonkeyPatch, package: str,
                                                            version: str) -> None:
    module = pytest.importorskip(package)
    monkeypatch.setattr(module, "__version__", version)
    fence.check_versions.cache_clear()
    try:
        with pytest.raises(ModelError) as raised:
            fence.check_versions()
    finally:
        monkeypatch.undo()
        fence.check_versions.cache_clear()
    requirement = fence.TRANSFORMERS_REQUIREMENT if package == "transformers" else fence.TORCH_REQUIREMENT
    message = str(raised.value)
    assert f"{package} {version} is installed" in message
    assert f"tested only with {requirement};" in message and f"pip install '{requirement}'" in message


@pytest.mark.parametrize("version", ["5.24.0", "5.24.3", "5.24.1.dev0"])
def test_releases_of_the_tested_minor_pass(version: str) -> None:
    assert fence.version_problem(fence.TRANSFORMERS_REQUIREMENT, version) is None
