"""Serving a shipped site (environments/sites/NAME/) over HTTP on 127.0.0.1, like a real website."""

from __future__ import annotations

import functools
import threading
from contextlib import ExitStack
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from loguru import logger

from environments.sites import site_problem


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.trace("site: " + format, *args)

    def end_headers(self) -> None:
        # Each run sees the site as shipped, never an older copy from the browser's cache.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


class LocalSite:
    """Serves one shipped site on 127.0.0.1 at a free port until `close()`; `url` is its first page."""

    def __init__(self, name: str) -> None:
        if (why := site_problem(name)) is not None:
            raise ValueError(why)
        self._files = ExitStack()
        folder = self._files.enter_context(resources.as_file(resources.files("environments.sites").joinpath(name)))
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"site-{name}", daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        logger.debug("serving the {} site at {}", name, self.url)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._files.close()

    def __enter__(self) -> LocalSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
