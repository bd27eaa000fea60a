"""Compiled tool-call grammars kept on disk, so a slow compile happens once per machine instead of once per run.

With Qwen's 151k-token vocabulary xgrammar spends about 20 CPU-seconds compiling one tool-call grammar (10 s on
two cores), almost all of it on the 500-character bound of typed text (its token masks are precomputed for every
remaining length), and an agent needs one grammar per action space and screen size: without this, the first step
of every run on a small machine waits for it. Loading a stored one takes about 3.5 s. Storing costs about 8 s of serialising, so it runs in a background thread
(xgrammar releases the GIL), and only for grammars that were slow to compile: a small vocabulary compiles faster
than it would load.

A file is keyed by the xgrammar version, the tokenizer and the grammar's text, so a changed schema or tokenizer
never loads a stale one; a file that does not load is compiled again and replaced. Files are zlib-compressed
(about 33 MB each for Qwen's vocabulary).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from loguru import logger

CACHE_ENV = "AGENT_CACHE_DIR"
# Grammars that compile faster than this are not worth a file: loading one back takes about this long.
MIN_COMPILE_S = 3.0


def grammar_cache_dir() -> Path | None:
    """$AGENT_CACHE_DIR/grammars, else the user cache folder's qwen-gui-agent/grammars; None when
    AGENT_CACHE_DIR is "off"."""
    value = os.environ.get(CACHE_ENV, "").strip()
    if value.lower() == "off":
        return None
    if value:
        return Path(value).expanduser() / "grammars"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qwen-gui-agent" / "grammars"


class CompiledGrammarStore:
    """Compiled grammars for one tokenizer, as files in one folder."""

    def __init__(self, directory: Path, tokenizer_info: Any, min_compile_s: float = MIN_COMPILE_S) -> None:
        self.directory = directory
        self.min_compile_s = min_compile_s
        self._info = tokenizer_info
        try:
            xgrammar_version = version("xgrammar")
        except PackageNotFoundError:
            xgrammar_version = "unknown"
        digest = hashlib.sha256(xgrammar_version.encode())
        digest.update(tokenizer_info.serialize_json().encode())
        self._tokenizer_key = digest.hexdigest()
        self._writers: list[threading.Thread] = []

    def path(self, grammar: Any) -> Path:
        key = hashlib.sha256((self._tokenizer_key + str(grammar)).encode()).hexdigest()
        return self.directory / f"{key[:40]}.json.z"

    def load(self, grammar: Any) -> Any | None:
        import xgrammar as xgr

        path = self.path(grammar)
        if not path.is_file():
            return None
        started = time.perf_counter()
        try:
            text = zlib.decompress(path.read_bytes()).decode("utf-8")
            compiled = xgr.CompiledGrammar.deserialize_json(text, self._info)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is simply compiled again
            logger.debug("compiled grammar {} does not load ({}); compiling it again", path, exc)
            return None
        logger.debug("loaded a compiled grammar from {} in {:.2f} s", path, time.perf_counter() - started)
        return compiled

    def save_later(self, grammar: Any, compiled: Any, compile_s: float) -> None:
        """Write `compiled` in a background thread, if compiling it took long enough to be worth a file."""
        if compile_s < self.min_compile_s:
            return
        writer = threading.Thread(target=self._save, args=(self.path(grammar), compiled), daemon=True,
                                  name="grammar-store")
        self._writers.append(writer)
        writer.start()

    def wait(self) -> None:
        """Block until the background writes are done."""
        for writer in self._writers:
            writer.join()
        self._writers.clear()

    def _save(self, path: Path, compiled: Any) -> None:
        try:
            data = zlib.compress(compiled.serialize_json().encode("utf-8"), 1)
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)  # readers see the whole file or none
        except OSError as exc:
            logger.debug("cannot keep the compiled grammar in {} ({}); it will be compiled again next run",
                         self.directory, exc)


__all__ = ["CACHE_ENV", "MIN_COMPILE_S", "CompiledGrammarStore", "grammar_cache_dir"]
