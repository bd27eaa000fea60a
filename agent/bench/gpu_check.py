"""The two Python stages of scripts/gpu_check.sh: what the machine has, and one report of the whole check.

    python -m agent.bench.gpu_check env ENV.json [--require-cuda]
    python -m agent.bench.gpu_check report --mode gpu --stages STAGES.tsv --env ENV.json --junit TESTS.xml \
        --bench bench-3b.json bench-7b.json --out DIR

`env` fails, saying what to do, when an installed package misses this project's pins (on the GPU machine: the
wheels from scripts/fetch_gpu_wheels.sh did not install) or when CUDA is required and absent. `report` writes
DIR/results.json and DIR/table.md from whatever the stages left; a stage that failed or timed out leaves a
missing file, which the report names instead of failing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from agent.bench.report import markdown_table

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
# The pyproject extras the GPU check imports (not browser, desktop, android or evals: it drives no screen).
EXTRAS = ("model",)


def requirement_problems() -> list[str]:
    """Each of the project's runtime requirements (its pins in pyproject.toml) that the installed packages miss."""
    import tomllib
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    project = tomllib.loads(PYPROJECT.read_text())["project"]
    required = [*project["dependencies"], *(r for extra in EXTRAS for r in project["optional-dependencies"][extra])]
    problems = []
    for text in required:
        requirement = Requirement(text)
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed (need {requirement.specifier or 'any'})")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name} {installed} does not satisfy {requirement.specifier}")
    return problems


def machine() -> dict[str, Any]:
    import platform
    from importlib.metadata import version

    import torch

    cuda = torch.cuda.is_available()
    found = {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
             "cuda": torch.version.cuda, "cuda_available": cuda,
             # Triton builds its launcher with the system's C compiler on first use, and xgrammar masks CUDA
             # logits with a Triton kernel: without one, every constrained step fails.
             "c_compiler": shutil.which("cc") or shutil.which("gcc")}
    for name in ("transformers", "xgrammar", "pydantic", "tokenizers", "huggingface-hub", "triton"):
        try:
            found[name] = version(name)
        except Exception:  # noqa: BLE001 - absent or broken metadata: reported as such, the check goes on
            found[name] = None
    if cuda:
        properties = torch.cuda.get_device_properties(0)
        found |= {"device_name": properties.name, "device_memory_gib": round(properties.total_memory / 2**30, 1),
                  "capability": f"{properties.major}.{properties.minor}", "bf16": torch.cuda.is_bf16_supported()}
    return found


def env_command(out: Path, require_cuda: bool) -> int:
    found = machine()
    problems = requirement_problems()
    if problems:
        problems.append("on the GPU machine, carry the wheels of `bash scripts/fetch_gpu_wheels.sh` (.whl/), which "
                        "gpu_check.sh installs first on PYTHONPATH")
    if require_cuda and not found["cuda_available"]:
        problems.append("torch sees no CUDA device; run on the GPU machine, or pass --cpu to gpu_check.sh")
    if found["cuda_available"] and not found["c_compiler"]:
        print("warning: no C compiler (cc, gcc): Triton cannot build its kernels, so the grammar's masks on the GPU "
              "will fail", file=sys.stderr)
    found["problems"] = problems
    out.write_text(json.dumps(found, indent=2) + "\n")
    for key, value in found.items():
        print(f"{key}: {value}")
    if problems:
        print("error: this interpreter cannot run the check: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


def read_stages(path: Path) -> list[dict[str, Any]]:
    """The stages gpu_check.sh ran, one tab-separated line each: name, result, exit status, seconds, bound."""
    stages = []
    for line in path.read_text().splitlines() if path.exists() else []:
        name, result, rc, seconds, bound = line.split("\t")
        stages.append({"stage": name, "result": result, "exit_status": int(rc), "seconds": int(seconds),
                       "bound_s": int(bound)})
    return stages


def read_junit(path: Path) -> list[dict[str, Any]] | None:
    """Each test of a pytest JUnit XML: its outcome, time, recorded properties and the first line of a failure."""
    if not path.exists():
        return None
    tests = []
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            found = case.find(kind)
            if found is not None:
                outcome = {"failure": "failed"}.get(kind, kind)
                message = next(iter((found.get("message") or found.text or "").strip().splitlines()), "")
                break
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        tests.append({"test": f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}",
                      "outcome": outcome, "seconds": round(float(case.get("time") or 0), 1),
                      "properties": properties, "message": message})
    return tests


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(results: dict[str, Any]) -> str:
    env = results["environment"] or {}
    device = env.get("device_name") or "no GPU"
    lines = [f"# GPU check ({results['mode']} mode): {device}, torch {env.get('torch')}, transformers "
             f"{env.get('transformers')}", "", f"Finished {results['finished']}.", "",
             "| stage | result | seconds | bound s |", "| --- | --- | ---: | ---: |"]
    lines += [f"| {s['stage']} | {s['result']} | {s['seconds']} | {s['bound_s']} |" for s in results["stages"]]
    lines += ["", "## Tests (pytest -m gpu)", ""]
    if results["tests"] is None:
        lines.append("No test report: the tests stage did not get far enough to write one.")
    else:
        lines += ["| test | outcome | seconds | recorded |", "| --- | --- | ---: | --- |"]
        for test in results["tests"]:
            recorded = ", ".join(f"{k} = {v}" for k, v in test["properties"].items())
            if test["outcome"] != "passed" and test["message"]:
                recorded = f"{recorded}; {test['message']}" if recorded else test["message"]
            lines.append(f"| {test['test']} | {test['outcome']} | {test['seconds']} | {_cell(recorded)} |")
    for bench in results["bench"]:
        lines += ["", f"## Bench: {bench['file']}", ""]
        lines.append(markdown_table(bench["report"]) if bench["report"] else "No results: the stage did not finish.")
    return "\n".join(lines) + "\n"


def report_command(args: argparse.Namespace) -> int:
    results = {
        "mode": args.mode,
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "environment": read_json(args.env),
        "stages": read_stages(args.stages),
        "tests": read_junit(args.junit),
        "bench": [{"file": path.name, "report": read_json(path)} for path in args.bench],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = render_markdown(results)
    (args.out / "table.md").write_text(table)
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.bench.gpu_check", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    env = sub.add_parser("env", help="what this machine has; fails when it cannot run the check")
    env.add_argument("out", type=Path, help="JSON file to write")
    env.add_argument("--require-cuda", action="store_true", help="fail without a CUDA device")
    report = sub.add_parser("report", help="results.json and table.md from the stages' outputs")
    report.add_argument("--mode", choices=("gpu", "cpu"), required=True)
    report.add_argument("--stages", type=Path, required=True)
    report.add_argument("--env", type=Path, required=True)
    report.add_argument("--junit", type=Path, required=True)
    report.add_argument("--bench", type=Path, nargs="*", default=[])
    report.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "env":
        return env_command(args.out, args.require_cuda)
    return report_command(args)


if __name__ == "__main__":
    sys.exit(main())
