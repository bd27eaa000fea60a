"""Step budgets a perfect agent fits in, and the measurement they rest on.

The rule: a task's budget is the larger of its difficulty's budget (8, 15, 25) and 1.5 times the longest
run of its oracle script over seeds 0..N-1 (steps counted as the agent loop counts them, the final
`terminate` included), rounded up. N is ORACLE_SEEDS (20) where the measurement has run that far, and at
least MIN_ORACLE_SEEDS (5, the seeds of the oracle's 95 % check). The longest runs live in `oracle_steps.json`
beside this file; after changing a script rerun

    python -m evals.miniwob.budgets --fresh TASK ...

(it runs the oracle through the real Agent loop and browser); without --fresh it measures only the seeds a
task still lacks, up to --seeds (default ORACLE_SEEDS), so a long measurement can be done in parts.
tests/evals/test_evals_miniwob.py checks the rule over every scripted task, and that no oracle run it makes is longer
than the recorded longest.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

from loguru import logger

from environments.base import Environment
from evals.task import Difficulty

STEP_BUDGET: dict[Difficulty, int] = {"easy": 8, "medium": 15, "hard": 25}
# How much longer than the oracle's longest run an agent may take.
ORACLE_MARGIN = 1.5
ORACLE_SEEDS = 20
MIN_ORACLE_SEEDS = 5
ORACLE_STEPS_FILE = Path(__file__).with_name("oracle_steps.json")
_MEASURE_MAX_STEPS = 200
# The pages are local, so the driver's waits for the screen to follow can be short; the step counts do not
# depend on them (the page's clock advances by at least 0.5 s per action whatever the driver waits).
_QUICK_SETTLE = {"settle_timeout": 0.5, "settle_delay": 0.02}


def oracle_runs() -> dict[str, dict[str, int]]:
    """Per scripted task: {"longest": steps, "seeds": how many seeds (0..seeds-1) were measured}."""
    if not ORACLE_STEPS_FILE.exists():
        return {}
    return json.loads(ORACLE_STEPS_FILE.read_text(encoding="utf-8"))


def oracle_longest() -> dict[str, int]:
    """The recorded longest oracle run per scripted task (no entry: not measured)."""
    return {k: int(v["longest"]) for k, v in oracle_runs().items()}


def step_budget(name: str, difficulty: Difficulty, longest: dict[str, int]) -> int:
    oracle = longest.get(name)
    floor = STEP_BUDGET[difficulty]
    return floor if oracle is None else max(floor, math.ceil(ORACLE_MARGIN * oracle))


def measure(name: str, env: Environment, seeds: range) -> tuple[int, list[str]]:
    """The longest successful oracle run of `name` over `seeds` in the desktop view, and the runs that did
    not succeed (a budget resting on a script that fails is worth little: fix the script)."""
    from evals.agents import OracleBackend
    from evals.episode import run_instance
    from evals.miniwob.tasks import DESKTOP_SUITE
    from evals.results import InstanceResult

    # Unbounded here: the budget is what this measures, so it must not cut the run it rests on.
    cls = type(DESKTOP_SUITE.tasks[name].__name__, (DESKTOP_SUITE.tasks[name],), {"max_steps": _MEASURE_MAX_STEPS})
    longest, failed = 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            iid = f"{name}__{seed}"
            base = InstanceResult(instance_id=iid, suite=cls.suite, task=name, difficulty=cls.difficulty,
                                  index=seed, seed=seed, agent="oracle", outcome="error")
            r = run_instance(cls.from_seed(seed), env, OracleBackend, base, Path(tmp) / iid, Path(tmp))
            if r.outcome == "success":
                longest = max(longest, r.steps)
            else:
                failed.append(f"{iid}: {r.outcome} after {r.steps} steps ({r.error})")
    return longest, failed


def main(argv: list[str]) -> int:
    import argparse

    from evals.miniwob.oracle import SCRIPTS
    from evals.miniwob.tasks import DESKTOP_SUITE

    parser = argparse.ArgumentParser(prog="python -m evals.miniwob.budgets", description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="scripted tasks (default: all)")
    parser.add_argument("--seeds", type=int, default=ORACLE_SEEDS, help="measure seeds 0..SEEDS-1")
    parser.add_argument("--fresh", action="store_true", help="forget earlier measurements of these tasks")
    args = parser.parse_args(argv)
    names = args.tasks or sorted(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        parser.error(f"no oracle script for {', '.join(unknown)}")
    recorded = oracle_runs()
    all_failed: list[str] = []
    env = DESKTOP_SUITE.tasks[names[0]].create_environment(_QUICK_SETTLE)
    try:
        for name in names:
            old = {"longest": 0, "seeds": 0} if args.fresh else recorded.get(name, {"longest": 0, "seeds": 0})
            if old["seeds"] >= args.seeds:
                continue
            longest, failed = measure(name, env, range(old["seeds"], args.seeds))
            all_failed += failed
            recorded[name] = {"longest": max(longest, old["longest"]), "seeds": args.seeds}
            logger.info("{}: longest oracle run {} steps over {} seeds, {} runs failed", name,
                        recorded[name]["longest"], args.seeds, len(failed))
            # After every task, so an interrupted measurement keeps what it has.
            ORACLE_STEPS_FILE.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n",
                                         encoding="utf-8")
    finally:
        env.close()
    for line in all_failed:
        print(f"failed: {line}", file=sys.stderr)
    print(f"{ORACLE_STEPS_FILE}: {len(recorded)} tasks; {len(all_failed)} failed runs")
    return 1 if all_failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
