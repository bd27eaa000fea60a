"""Serves the `miniwob` package's HTML folder from a local HTTP server on 127.0.0.1 (one per process)."""

from __future__ import annotations

import functools
import importlib.resources
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from loguru import logger

from agent.cli_flags import UsageError

_lock = threading.Lock()
_server: ThreadingHTTPServer | None = None


class MiniWoBMissing(UsageError):
    pass


def html_dir() -> Path:
    """The package's `html` folder (tasks under miniwob/, shared scripts under core/ and common/)."""
    try:
        root = importlib.resources.files("miniwob") / "html"
    except ModuleNotFoundError:
        raise MiniWoBMissing(
            "the MiniWoB++ suite needs the `miniwob` package: pip install 'qwen-gui-agent[evals]' (or miniwob>=1.0)"
        ) from None
    path = Path(str(root))
    if not (path / "miniwob").is_dir():
        raise MiniWoBMissing(f"{path} has no miniwob/ task folder; reinstall the `miniwob` package")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    # The pages are UTF-8 but most name no charset: served as bare text/html, Chromium reads them as
    # windows-1252 and unicode-test's "ÖK" shows as "Ã–K".
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".html": "text/html; charset=utf-8",
                      ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per file request would drown the eval's own log


def base_url() -> str:
    """URL of the served html folder, starting the server on first use; it lives as long as the process."""
    global _server
    with _lock:
        if _server is None:
            handler = functools.partial(_QuietHandler, directory=str(html_dir()))
            _server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, daemon=True, name="miniwob-http").start()
            logger.debug("serving MiniWoB++ pages on port {}", _server.server_address[1])
        return f"http://127.0.0.1:{_server.server_address[1]}"


def task_url(name: str) -> str:
    return f"{base_url()}/miniwob/{name}.html"
