"""A local page server for browser tests: pages that log every event, open tabs, never finish loading, and
show typed text altered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# Every event the page sees lands in window.__events, with client (CSS px) coordinates, so a test can check
# that an action arrived at the exact pixel and with the exact key it was meant to.
EVENT_LOG_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>event log</title>
<style>
  html, body { margin: 0; padding: 0; }
  body { height: 5000px; background: linear-gradient(#fff, #8ac); font: 14px sans-serif; }
  #box { position: fixed; left: 20px; top: 20px; width: 300px; height: 80px; }
  #newtab { position: fixed; left: 400px; top: 20px; }
</style></head>
<body>
<textarea id="box"></textarea>
<a id="newtab" href="/second" target="_blank">open a tab</a>
<script>
  window.__events = [];
  const log = (e) => {
    window.__events.push({
      type: e.type, x: e.clientX, y: e.clientY, button: e.button, detail: e.detail,
      key: e.key, code: e.code, ctrl: e.ctrlKey, shift: e.shiftKey, alt: e.altKey, meta: e.metaKey,
      dy: e.deltaY, target: e.target && e.target.id,
    });
  };
  for (const t of ["mousedown", "mouseup", "click", "dblclick", "contextmenu", "auxclick", "wheel",
                   "keydown", "keyup"]) {
    document.addEventListener(t, log, true);
  }
  // Keep the context menu and middle-click autoscroll from changing what the next action meets.
  document.addEventListener("contextmenu", (e) => e.preventDefault());
  document.addEventListener("mousedown", (e) => { if (e.button === 1) e.preventDefault(); });
  document.addEventListener("mousemove", (e) => { window.__lastMove = [e.clientX, e.clientY]; }, true);
</script>
</body></html>
"""

SECOND_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>second</title></head>
<body><h1>second page</h1>
<button id="close" style="position: fixed; left: 10px; top: 100px" onclick="window.close()">close</button>
</body></html>"""

ALTERING_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>login</title></head><body>
<input id="f" style="position:absolute;left:20px;top:20px;width:300px;height:30px">
<script>
  // A page that shows what was typed, altered: spaced with no-break spaces, decomposed, short of a character
  // at either end, in capitals, with zero-width spaces between the letters, and decomposed in its address.
  const f = document.getElementById("f");
  f.addEventListener("input", () => {
    const v = f.value;
    document.title = [v.replace(/ /g, "\\u00a0"), v.normalize("NFD"), v.slice(0, -1), v.slice(1), v.toUpperCase(),
                      [...v].join("\\u200b")].join(" | ");
    location.hash = encodeURIComponent(v.normalize("NFD"));
  });
</script></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/hang":
            # A page that never loads: the response never starts. Bounded so the server can shut down.
            time.sleep(20)
            return
        body = {"/log": EVENT_LOG_PAGE, "/second": SECOND_PAGE, "/alters": ALTERING_PAGE}.get(path)
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """Base URL of a page server on 127.0.0.1 (a free port), stopped after the module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
