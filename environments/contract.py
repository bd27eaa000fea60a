"""The environment contract as a check a driver author runs: `check_environment(env)`.

It drives a real environment through what the agent loop relies on and reports every broken promise at once.
It consumes the environment: the last thing it checks is that a closed one stays closed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from actions.base import Action
from actions.geometry import ScreenGeometry
from actions.space import ActionSpace
from environments.base import ActionFailed, Environment, EnvironmentUnavailable, Observation, ObservationExtras

T = TypeVar("T")


class ContractError(AssertionError):
    """The environment breaks the contract; the message lists each broken promise."""


def check_environment(env: Environment) -> None:
    """Check `env` against the contract and close it; raises ContractError naming every problem found.

    Checked: it has the protocol's members and an action space; reset() and observe() give an RGB screenshot
    of the geometry's size with valid ObservationExtras; a point just off the screen is refused with ActionFailed;
    close() twice is safe; observe() after close raises EnvironmentUnavailable.
    """
    name = type(env).__name__
    problems: list[str] = []
    if not isinstance(env, Environment):
        missing = [m for m in ("action_space", "reset", "observe", "act", "close") if not hasattr(env, m)]
        raise ContractError(f"{name} is not an Environment: it lacks {', '.join(missing)}")
    if not isinstance(env.action_space, ActionSpace):
        problems.append(f"action_space is a {type(env.action_space).__name__}, not an ActionSpace")
    try:
        for what, look in (("reset()", env.reset), ("observe()", env.observe)):
            obs = _call(look, what, problems)
            if obs is not None:
                _check_observation(obs, what, problems)
        if obs is not None and isinstance(env.action_space, ActionSpace):
            _check_off_screen_refused(env, obs.geometry, problems)
    finally:
        _call(env.close, "the first close()", problems)
    _call(env.close, "a second close()", problems)
    try:
        env.observe()
        problems.append("observe() after close() returned an observation instead of raising EnvironmentUnavailable")
    except EnvironmentUnavailable:
        pass
    except Exception as e:  # noqa: BLE001 - the contract names the one error a closed environment raises
        problems.append(f"observe() after close() raised {type(e).__name__} ({e}), not EnvironmentUnavailable")
    if problems:
        raise ContractError(f"{name} breaks the environment contract:\n" + "\n".join(f"- {p}" for p in problems))


def _call(fn: Callable[[], T], what: str, problems: list[str]) -> T | None:
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - every failure is a finding, reported with the others
        problems.append(f"{what} raised {type(e).__name__}: {e}")
        return None


def _check_observation(obs: Observation, what: str, problems: list[str]) -> None:
    if not isinstance(obs, Observation):
        problems.append(f"{what} returned a {type(obs).__name__}, not an Observation")
        return
    g = obs.geometry
    if obs.screenshot.size != (g.width, g.height):
        problems.append(f"{what}: the screenshot is {obs.screenshot.size[0]}x{obs.screenshot.size[1]}, "
                        f"the geometry {g.width}x{g.height}")
    if obs.screenshot.mode != "RGB":
        problems.append(f"{what}: the screenshot is in mode {obs.screenshot.mode}, not RGB")
    if not isinstance(obs.extras, ObservationExtras):
        problems.append(f"{what}: the extras are a {type(obs.extras).__name__}, not ObservationExtras")
    else:
        # What skipped validation (model_construct, model_copy with update) is checked the way it is recorded:
        # through JSON, and back into the model.
        try:
            ObservationExtras.model_validate_json(obs.extras.model_dump_json(warnings="error"))
        except ValueError as e:  # ValidationError and PydanticSerializationError both are
            problems.append(f"{what}: the extras do not survive a JSON round trip ({e})")
    if not all(isinstance(w, str) for w in obs.warnings):
        problems.append(f"{what}: the warnings are not all strings")


def _check_off_screen_refused(env: Environment, geometry: ScreenGeometry, problems: list[str]) -> None:
    probe = _pointing_action(env.action_space)
    if probe is None:
        return  # a space with no pointing action has no point to refuse
    width, _ = geometry.logical_size
    # The first column right of the screen, in driver coordinates.
    point = (math.ceil(geometry.origin_x + width), math.floor(geometry.origin_y))
    action = probe.model_validate({"action": probe.model_fields["action"].default, "coordinate": point})
    try:
        env.act(action)
        problems.append(f"{action.action} at {point}, right of the {geometry.width}x{geometry.height} screen, was "
                        "carried out instead of refused with ActionFailed")
    except ActionFailed:
        pass
    except Exception as e:  # noqa: BLE001 - the contract names the error an impossible action raises
        problems.append(f"{action.action} at {point}, off the screen, raised {type(e).__name__} ({e}), "
                        "not ActionFailed")


def _pointing_action(space: ActionSpace) -> type[Action] | None:
    """The space's first action that takes a point and nothing else (a move where there is one: harmless if
    a driver wrongly carries it out)."""
    for cls in space.actions:
        required = {n for n, f in cls.model_fields.items() if f.is_required()}
        if "coordinate" in cls.point_fields and required <= {"action", "coordinate"}:
            return cls
    return None
