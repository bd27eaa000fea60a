"""Writes an episode to disk as it runs, so a crash or Ctrl-C loses nothing already done.

Layout of one episode folder:
    episode.json        task, settings, environment and model, and the result once known
    steps.jsonl         one StepRecord per line, appended and flushed in the background as the step ends
    screenshots/        step_001.png ... at native resolution, encoded in the background (as step_001.png.tmp)
                        and renamed into place just before its step's record is written
    report.html         the self-contained report (rebuild with `python -m agent report DIR`)
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image

from actions.geometry import ImageBudget
from agent.trajectory import EpisodeResult, StepRecord

EPISODE_FILE = "episode.json"
STEPS_FILE = "steps.jsonl"
SCREENSHOT_DIR = "screenshots"
# Steps whose screenshot and record may wait to be written; a faster loop waits for the writer.
MAX_STEPS_BEHIND = 3


class RecordingError(Exception):
    """A recording folder that cannot be written or read; the message names the folder and the problem."""


# Longest task slug in a folder name, in characters: 40 of the widest UTF-8 letters (4 bytes) and the time stamp
# stay far below the 255 bytes a file name may take.
SLUG_LENGTH = 40


def task_slug(task: str) -> str:
    """The task as part of a folder name. Letters, marks and digits of every script are kept, so a task in
    Chinese or with accents stays readable; everything else (spaces, punctuation, path separators, control
    characters, emoji) becomes one dash. NFC first, so the same text typed two ways names one folder."""
    text = unicodedata.normalize("NFC", task).lower()
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else "-" for c in text)
    return re.sub("-+", "-", kept).strip("-")[:SLUG_LENGTH].rstrip("-") or "task"


def episode_dir_for(root: Path, task: str) -> Path:
    """A fresh folder under `root` named by time and task, never one that already exists."""
    base = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{task_slug(task)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write so a reader never sees half a file: a temporary file, then a rename."""
    data = text.encode("utf-8")  # before the file exists: text that cannot be written leaves nothing behind
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2))


class EpisodeRecorder:
    """Owns one episode folder. Refuses a folder that already holds an episode, so nothing is overwritten."""

    def __init__(self, directory: Path, header: dict[str, Any], redact: Callable[[Any], Any] | None = None):
        self.dir = Path(directory)
        # Applied to everything written, so a secret's value never reaches the disk.
        self._redact = redact or (lambda data: data)
        if (self.dir / EPISODE_FILE).exists():
            raise RecordingError(f"{self.dir} already holds an episode; choose another output folder")
        try:
            (self.dir / SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RecordingError(f"cannot create the recording folder {self.dir}: {e.strerror}") from None
        self._header = {**self._redact(header), "started_at": time.time(), "result": None}
        write_json_atomic(self.dir / EPISODE_FILE, self._header)
        self._steps = (self.dir / STEPS_FILE).open("a", encoding="utf-8")
        # PNG encoding takes 90 ms at 1280x800 and 170 ms at 1920x1080. One thread writes the screenshots and
        # then their step's records, in order, while the model thinks (Pillow lets go of the GIL as it
        # compresses): a record is never on disk before its screenshot, nor a screenshot without its record.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._encoding: dict[str, Future[None]] = {}  # screenshot name -> its encoding
        self._writes: list[Future[None]] = []
        logger.info("recording to {}", self.dir)

    def save_screenshot(self, index: int, image: Image.Image) -> str:
        """Start writing step `index`'s screenshot in the background; returns its name in the folder, which it
        takes when its step's record is written. `image` must not change afterwards (the environments give a
        fresh one per observation)."""
        self._raise_if_failed()
        name = f"{SCREENSHOT_DIR}/step_{index:03d}.png"
        self._encoding[name] = self._writer.submit(image.save, self.dir / f"{name}.tmp", format="PNG",
                                                   compress_level=1)
        return name

    def write_step(self, record: StepRecord) -> None:
        """Queue the step's record, after its screenshot; written in the background, in order."""
        self._raise_if_failed()
        line = json.dumps(self._redact(record.model_dump(mode="json")), ensure_ascii=False) + "\n"
        encoded = self._encoding.pop(record.screenshot, None)
        self._writes.append(self._writer.submit(self._write_record, line, record.screenshot, encoded))
        # Steps faster than the encoder (a replay, no model) wait for it here rather than queue screenshots.
        if len(self._writes) > MAX_STEPS_BEHIND:
            self._writes[0].exception()

    def _write_record(self, line: str, screenshot: str, encoded: Future[None] | None) -> None:
        if encoded is not None:
            encoded.result()  # done already: the writer runs in order
            os.replace(self.dir / f"{screenshot}.tmp", self.dir / screenshot)
        self._steps.write(line)
        self._steps.flush()
        os.fsync(self._steps.fileno())

    def _raise_if_failed(self) -> None:
        """Raise what went wrong with a write so far (a full disk), as the RecordingError a user can act on."""
        for write in [w for w in self._writes if w.done()]:
            self._writes.remove(write)
            error = write.exception()
            if error is not None:
                raise RecordingError(f"cannot write the recording in {self.dir}: "
                                     f"{getattr(error, 'strerror', None) or error}; free some space or choose "
                                     "another output folder") from error

    def flush(self) -> None:
        """Wait until every queued screenshot and record is on disk."""
        for write in list(self._writes):
            write.exception()  # waits; _raise_if_failed reports it
        self._raise_if_failed()

    def finish(self, result: EpisodeResult) -> None:
        try:
            self.flush()
        except RecordingError as e:  # the episode has ended; its result is still worth writing
            logger.error("{}", e)
        self._writer.shutdown(wait=True)
        try:
            self._steps.close()
        except OSError as e:  # what a failed write left in the buffer; the lines before it are on disk
            logger.debug("closing {} failed: {}", self.dir / STEPS_FILE, e)
        for name in self._encoding:  # screenshots of steps that were never recorded
            (self.dir / f"{name}.tmp").unlink(missing_ok=True)
        self._encoding.clear()
        self._header.update(result=self._redact(result.model_dump(mode="json")), finished_at=time.time())
        try:
            write_json_atomic(self.dir / EPISODE_FILE, self._header)
        except OSError as e:  # the header written at the start stays as it was: readable, with no result
            logger.error("cannot write the result into {}: {}; the recording up to here is readable",
                         self.dir / EPISODE_FILE, e.strerror or e)


def amend_header(directory: Path, **fields: Any) -> None:
    """Add to a finished episode's episode.json what was learnt after it ended (an eval's scored outcome)."""
    path = Path(directory) / EPISODE_FILE
    header, _ = load_episode(directory)
    write_json_atomic(path, {**header, **fields})


def recorded_image_budget(header: dict[str, Any]) -> ImageBudget:
    """The image budget the recorded answers' coordinates were written for (the default for older recordings)."""
    b = header.get("image_budget") or {}
    return ImageBudget(**b) if b else ImageBudget()


def load_episode(directory: Path) -> tuple[dict[str, Any], list[StepRecord]]:
    """Read an episode folder back. A last line cut short by a crash is skipped with a warning."""
    directory = Path(directory)
    header_path = directory / EPISODE_FILE
    if not header_path.is_file():
        raise RecordingError(f"{directory} is not an episode folder: it has no {EPISODE_FILE}")
    try:
        header = json.loads(header_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise RecordingError(f"{header_path} is not valid JSON ({e}); the folder is damaged") from None
    if not isinstance(header, dict) or not isinstance(header.get("task"), str):
        raise RecordingError(f"{header_path} is not an episode header (a JSON object with the task's text as "
                             '"task"); the folder is damaged or not one the agent wrote')
    steps: list[StepRecord] = []
    steps_path = directory / STEPS_FILE
    # Bytes, split at "\n" only: splitlines() would also cut at U+2028 or U+0085, which JSON keeps raw inside a
    # model's text, and a crash can cut the last line inside a multi-byte character.
    lines = steps_path.read_bytes().split(b"\n") if steps_path.exists() else []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            steps.append(StepRecord.model_validate_json(line.decode("utf-8")))
        except ValueError:  # UnicodeDecodeError included
            logger.warning("{} line {} is damaged (a crash mid-write?); it is skipped", steps_path, n)
    return header, steps
