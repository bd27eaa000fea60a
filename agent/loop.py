"""The observe-think-act loop: one episode of one task on one environment with one model."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from loguru import logger
from PIL import Image

from actions.base import Action
from actions.geometry import CoordinateMapper, GeometryError
from actions.parsing import ParsedAction, ParseError, parse_action
from actions.space import ActionSpace
from agent.config import AgentConfig
from agent.episode_state import Decision, EpisodeState
from agent.models.base import Generation, GenerationRequest, ModelBackend, ModelError
from agent.recording import EpisodeRecorder, RecordingError
from agent.report import write_report
from agent.safety import Safety
from agent.trajectory import Attempt, EpisodeResult, SafetyRecord, StepRecord, StopReason
from environments.base import ActionFailed, Environment, EnvironmentUnavailable, Observation
from prompts.messages import ChatMessage
from prompts.qwen import PastStep, PromptInputs, build_messages, retry_message

StepCallback = Callable[[StepRecord], None]
# What a step is doing now, for a live view: observe (capture the screen; the first step's also starts the
# environment), think (the model call, re-asks included), act, confirm (waiting on a human's yes or no);
# finish: the episode has ended and its recording and report are being written.
Phase = Literal["observe", "think", "act", "confirm", "finish"]
PhaseCallback = Callable[[int, Phase], None]
INTERRUPTED = "stopped by the user (Ctrl-C or SIGTERM)"


class EpisodeStop(Exception):
    """Raised inside the loop to end the episode with a reason."""

    def __init__(self, reason: StopReason, message: str | None = None):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message


class Agent:
    """Runs tasks on `env` with `model`; everything it does is recorded when given a folder."""

    def __init__(
        self,
        env: Environment,
        model: ModelBackend,
        config: AgentConfig | None = None,
        on_step: StepCallback | None = None,
        header: dict[str, Any] | None = None,
        safety: Safety | None = None,
        on_phase: PhaseCallback | None = None,
        interrupted: Callable[[], bool] | None = None,
    ):
        self.env = env
        # Asked before each step: whether a signal asked to stop, for when its KeyboardInterrupt was lost (raised
        # inside a weakref callback or a __del__, Python prints it and goes on).
        self.interrupted = interrupted
        self.model = model
        self.config = config or AgentConfig()
        # `answer` is offered only to tasks that ask a question: the checkpoints' tools have none.
        self.space = env.action_space.with_answer() if self.config.answer else env.action_space
        self.on_step = on_step
        self.on_phase = on_phase
        # By default, the command line's policy: ask before risky actions on a terminal, refuse them without one.
        self.safety = safety or Safety()
        # Extra facts for episode.json (environment settings, model settings), chosen by the caller.
        self.header = header or {}

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the model and the environment (the `with` block's end); an agent used without `with` leaves
        them to the caller."""
        try:
            self.model.close()
        finally:
            self.env.close()

    def run(self, task: str, out_dir: Path | str | None = None, reset: bool = True) -> EpisodeResult:
        """Run one episode, recorded into `out_dir` when given. Errors inside the episode end it with
        stop_reason "error", never lose the recording. The episode starts with `env.reset()`; with `reset`
        False it starts from the environment as the caller prepared it (an eval task's setup)."""
        if not task or not task.strip():
            raise ValueError("the task is empty; say what the agent should do, e.g. 'open the settings'")
        secrets = self.safety.secrets
        secrets.check_used(task)
        instructions = self.config.extra_instructions + secrets.instructions()
        recorder = None
        if out_dir is not None:
            recorder = EpisodeRecorder(
                Path(out_dir),
                {
                    "task": task,
                    "action_space": self.space.name,
                    "model": self.model.name,
                    "image_budget": dataclasses.asdict(self.model.image_budget),
                    "config": self.config.model_dump(mode="json"),
                    **self.header,
                },
                redact=secrets.redact_data,
            )
        state = EpisodeState(keep_signatures=max(2, self.config.stuck_after), reset=reset)
        stop = EpisodeStop("max_steps", f"reached the limit of {self.config.max_steps} steps")
        try:
            for index in range(1, self.config.max_steps + 1):
                ending = self._step(index, task, instructions, state, recorder)
                if ending is not None:
                    stop = ending
                    break
        except EpisodeStop as e:
            stop = e
        except KeyboardInterrupt:
            stop = EpisodeStop("interrupted", INTERRUPTED)
        except (ModelError, EnvironmentUnavailable, GeometryError, RecordingError) as e:
            stop = EpisodeStop("error", str(e))
        except Exception as e:  # noqa: BLE001 - any crash ends the episode as an error, recording intact
            logger.opt(exception=e).error("episode crashed")
            stop = EpisodeStop("error", f"{type(e).__name__}: {e}")
        result = self._result(task, stop, state.steps, recorder)
        if recorder:
            self._phase(len(state.steps), "finish")
            recorder.finish(result)
            try:
                write_report(recorder.dir)
            except Exception as e:  # noqa: BLE001 - the recording is complete; a report can be rebuilt later
                logger.warning("could not write the HTML report ({}); rebuild it with `python -m agent report {}`",
                               e, recorder.dir)
        logger.info("episode ended: {} after {} steps{}", result.stop_reason, result.steps,
                    f" ({result.error})" if result.error else "")
        return result

    def _step(
        self, index: int, task: str, instructions: str, state: EpisodeState, recorder: EpisodeRecorder | None
    ) -> EpisodeStop | None:
        """One step: observe, ask, then act or hold back; recorded whatever happens. Returns a stop, if any."""
        self._check_stop()
        started = time.perf_counter()
        space = self.space
        self._phase(index, "observe")
        t = time.perf_counter()
        obs = self.env.reset() if index == 1 and state.reset else self.env.observe()
        capture = time.perf_counter() - t
        changed = state.see(obs.screenshot, obs.geometry.scale)
        previous = state.steps[-1] if state.steps else None
        notes = list(state.notes)
        if changed is False and previous and previous.executed and previous.action.get("action") != "wait":
            notes.append("the screen did not change after your last action")
        notes.extend(obs.warnings)
        mapper = CoordinateMapper.for_screen(obs.geometry, self.model.image_budget)
        size = (mapper.model_width, mapper.model_height)
        shot = recorder.save_screenshot(index, obs.screenshot) if recorder else ""
        past = self._past_steps(state.steps, state.screenshots)
        inputs = PromptInputs(
            space, task, obs.screenshot, size, past, self.config.history_images, tuple(notes), instructions
        )
        decision = Decision(messages=build_messages(inputs))
        decision.timings.capture = capture
        self._phase(index, "think")
        try:
            self._decide(decision, mapper, size)
        except BaseException as e:
            # The screenshot is on disk already: the step is recorded, with why it has no action, before the
            # episode ends.
            decision.error = str(e) or type(e).__name__
            record = self._record(index, shot, obs, size, decision)
            record.timings.total = time.perf_counter() - started
            self._commit(record, recorder, state.steps)
            raise
        record = self._record(index, shot, obs, size, decision)
        record.screen_changed = changed
        feedback: str | None = None
        ending: EpisodeStop | None = None
        try:
            if decision.parsed is None or decision.mapped is None:
                feedback = f"your previous answer could not be used: {decision.error}"
            elif decision.parsed.action.ends_episode:
                ending = _ending(decision.parsed.action)
            elif self._is_stuck(state, record):
                record.error = "stopped: the same action left the screen unchanged"
                ending = EpisodeStop(
                    "stuck", f"the same action was chosen {self.config.stuck_after} times and the screen did not change"
                )
            elif not self._permitted(decision.mapped, obs, record):
                feedback = f"the last action was not carried out: {record.error}; choose another action"
            else:
                self._phase(index, "act")
                feedback = self._act(decision.mapped, record)
        finally:
            record.timings.total = time.perf_counter() - started
            self._commit(record, recorder, state.steps)
        state.notes = [feedback] if feedback else []
        state.keep_screenshot(obs.screenshot, self.config.history_images)
        return ending

    def _decide(self, d: Decision, mapper: CoordinateMapper, size: tuple[int, int]) -> None:
        """Ask the model, filling in `d`; on an unusable answer, re-prompt quoting the error
        (config.retries_on_bad_answer)."""
        messages = d.messages
        space = self.space
        for _ in range(self.config.retries_on_bad_answer + 1):
            t = time.perf_counter()
            gen = self.model.generate(GenerationRequest(messages, space, size))
            elapsed = time.perf_counter() - t
            if gen.image_sizes and gen.image_sizes[-1] != size:
                raise ModelError(
                    f"the model saw the screenshot at {gen.image_sizes[-1][0]}x{gen.image_sizes[-1][1]} but the "
                    f"prompt promised {size[0]}x{size[1]}; set the same min_pixels/max_pixels on both sides"
                )
            d.timings.preprocess += gen.preprocess_s
            d.timings.model += elapsed - gen.preprocess_s
            t = time.perf_counter()
            d.parsed, d.mapped, d.error = None, None, None
            notes: list[str] = []
            try:
                d.parsed = _parse_answer(gen, space)
                notes = d.parsed.notes
                d.mapped = d.parsed.action.map_points(mapper.to_driver)
            except (ParseError, GeometryError) as e:
                d.error = str(e)
            d.timings.parse += time.perf_counter() - t
            d.attempts.append(
                Attempt(raw_text=gen.text, error=d.error, notes=notes, model_seconds=elapsed,
                        prompt_tokens=gen.prompt_tokens, new_tokens=gen.new_tokens, finish=gen.finish)
            )
            if d.error is None:
                break
            logger.warning("unusable answer: {}", d.error)
            messages = [*messages, ChatMessage.text("assistant", gen.text), retry_message(d.error)]

    def _act(self, action: Action, record: StepRecord) -> str | None:
        """Carry out the action; returns feedback for the model when it failed."""
        if self.config.dry_run:
            logger.info("dry run: would {}", action.arguments())
            return None
        t = time.perf_counter()
        redact = self.safety.secrets.redact
        try:
            self.env.act(self.safety.secrets.reveal(action))
            record.executed = True
            return None
        except ActionFailed as e:
            record.error = redact(str(e))
            logger.warning("action failed: {}", record.error)
            return f"the last action failed: {record.error}"
        except EnvironmentUnavailable as e:
            record.error = redact(str(e))
            raise
        finally:
            record.timings.act = time.perf_counter() - t

    def _is_stuck(self, state: EpisodeState, record: StepRecord) -> bool:
        """The same action chosen `stuck_after` times in a row, the screen the same before each of them."""
        n = self.config.stuck_after
        recent = [*state.steps[-(n - 1):], record]
        if len(recent) < n or len(state.signatures) < n:
            return False
        first = state.signatures[-n]
        return len({_key(s.action) for s in recent}) == 1 and all(first.same_as(s) for s in state.signatures[-n + 1:])

    def _permitted(self, action: Action, obs: Observation, record: StepRecord) -> bool:
        """Ask the safety policy; a held-back action needs a human's yes, which dry runs never ask for."""
        classifier = self.safety.classifier
        if classifier is None:
            return True
        assessment = classifier.assess(action, self.env, obs.extras)
        # The reasons quote what lies under the pointer, which can show a secret: the prompt and the record see
        # them redacted.
        redact = self.safety.secrets.redact
        assessment = dataclasses.replace(assessment, reasons=[redact(r) for r in assessment.reasons])
        if assessment.verdict == "allow":
            return True
        decided = f"refused by {assessment.refused_by}" if assessment.verdict == "deny" else ""
        allowed = False
        if assessment.verdict == "ask":
            if self.config.dry_run:
                allowed, decided = True, "dry run: a human would be asked"
            else:
                self._phase(record.index, "confirm")
                allowed, decided = self.safety.confirmer.confirm(action, assessment, record.screenshot)
        record.safety = SafetyRecord(verdict=assessment.verdict, reasons=assessment.reasons,
                                     target=assessment.target_text, decision=decided)
        if not allowed:
            record.error = f"{decided} ({'; '.join(assessment.reasons)})"
            logger.warning("action held back: {}", record.error)
        return allowed

    def _phase(self, index: int, phase: Phase) -> None:
        if self.on_phase:
            self.on_phase(index, phase)

    def _check_stop(self) -> None:
        if self.interrupted is not None and self.interrupted():
            raise EpisodeStop("interrupted", INTERRUPTED)
        path = self.config.stop_file
        if path is not None and path.exists():
            raise EpisodeStop("interrupted", f"the stop file {path} exists; remove it to run again")

    def _past_steps(self, steps: list[StepRecord], screenshots: list[Image.Image]) -> list[PastStep]:
        # Screenshots are kept for the most recent steps only; older steps appear as progress lines.
        offset = len(steps) - len(screenshots)
        return [
            PastStep(
                progress=s.progress_line(),
                screenshot=screenshots[i - offset] if i >= offset else None,
                answer=s.attempts[-1].raw_text if s.attempts else None,
            )
            for i, s in enumerate(steps)
        ]

    def _record(
        self, index: int, shot: str, obs: Observation, size: tuple[int, int], d: Decision
    ) -> StepRecord:
        # steps.jsonl keeps the dict the drivers wrote before the extras were typed: set fields only.
        extras = obs.extras.model_dump(exclude_none=True)
        return StepRecord(
            index=index,
            screenshot=shot,
            screen=obs.geometry,
            model_image=size,
            messages=[m.to_json() for m in d.messages],
            attempts=d.attempts,
            action=d.parsed.action.arguments() if d.parsed else None,
            call=d.parsed.call if d.parsed else None,
            mapped_action=d.mapped.arguments() if d.mapped else None,
            error=d.error,
            extras=self.safety.secrets.redact_data(
                {**extras, "warnings": list(obs.warnings)} if obs.warnings else extras
            ),
            timings=d.timings,
        )

    def _commit(self, record: StepRecord, recorder: EpisodeRecorder | None, steps: list[StepRecord]) -> None:
        steps.append(record)
        if recorder:
            recorder.write_step(record)
        if self.on_step:
            # What the caller shows (a terminal, a progress view) is redacted as the recording is: the model may
            # have read a secret off the screen and written it. Without secrets there is nothing to copy.
            secrets = self.safety.secrets
            self.on_step(StepRecord.model_validate(secrets.redact_data(record.model_dump(mode="json"))) if secrets
                         else record)

    def _result(
        self, task: str, stop: EpisodeStop, steps: list[StepRecord], recorder: EpisodeRecorder | None
    ) -> EpisodeResult:
        action = (steps[-1].action or {}) if steps and stop.reason in ("terminate", "answer") else {}
        return EpisodeResult(
            task=task,
            stop_reason=stop.reason,
            status=action.get("status") if stop.reason == "terminate" else None,
            answer=action.get("text") if stop.reason == "answer" else None,
            steps=len(steps),
            error=stop.message if stop.reason in ("error", "interrupted", "stuck", "max_steps") else None,
            out_dir=str(recorder.dir) if recorder else None,
        )


def _parse_answer(gen: Generation, space: ActionSpace) -> ParsedAction:
    """The answer's action. One cut off at the token limit is used only when its first tool call was closed by
    </tool_call> before the cut: then the cut fell after that call, not in it."""
    if gen.finish != "length":
        return parse_action(gen.text, space)
    limit = f"the limit of {gen.new_tokens} new tokens" if gen.new_tokens else "the limit of new tokens"
    try:
        parsed = parse_action(gen.text, space)
    except ParseError:
        parsed = None
    if parsed is None or not parsed.closed:
        raise ParseError(
            f"the answer was cut off at {limit} before its tool call was complete, so it was not carried out; "
            "answer with one short tool call and nothing else"
        )
    note = f"the answer was cut off at {limit} after its first tool call, which was complete and was used"
    return dataclasses.replace(parsed, notes=[*parsed.notes, note])


def _ending(action: Action) -> EpisodeStop:
    return EpisodeStop("answer" if action.action == "answer" else "terminate")


def _key(action: dict[str, Any] | None) -> str:
    return repr(sorted(action.items())) if action else "none"
