"""The explorer's HTTP side: a standard-library server on 127.0.0.1, its routes and the app's page.

Routes: ``GET /`` the app, ``GET /audio`` the files, ``POST /upload?name=N`` (the file's bytes),
``POST /run`` ({audio, queries, layers, alpha} → {html}: the page of the run). Bad input is answered
``{"error": one line}`` (status 200: the request was understood, the answer is the message, so the
browser's console stays clean), shown in the app; a bug is 500 with one line there and the traceback on
the server's console.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ..errors import WTLError
from ..page.html import CSS, asset_script, esc
from .session import MAX_UPLOAD, Explorer

HOST = "127.0.0.1"

APP_CSS = """
.ex-bar{display:flex;flex-wrap:wrap;gap:.6em;align-items:center;margin:.6em 0}
.ex-bar input{font:inherit;padding:.2em .4em}#ex-query{width:22em}#ex-drop{border:2px dashed #bbb;
padding:.8em;border-radius:6px;color:#555}#ex-drop.over{border-color:#dd8452;background:#fff4e5}
.chip{display:inline-block;background:#eef;border-radius:1em;padding:.1em .6em;margin:.1em}
.chip button{border:0;background:none;cursor:pointer;color:#a33}#ex-status{min-height:1.3em}
#ex-status.error{color:#b00}#ex-view{width:100%;height:900px;border:1px solid #ddd}
"""


def app_page(title: str = "wheretolisten explore") -> str:
    """The app: drop zone, audio choice, queries, layers and α, the status line and the result's page."""
    body = (
        f"<h1>{esc(title)}</h1>"
        '<div id="ex-drop">Drop an audio file here, or choose one: <input type="file" id="ex-file"></div>'
        '<div class="ex-bar"><label>audio <select id="ex-audio"></select></label>'
        '<label>query <input id="ex-query" placeholder="the sound to find, e.g. a dog barking"></label>'
        '<button id="ex-add">add query</button><span id="ex-queries"></span></div>'
        '<div class="ex-bar"><label>steered layers <input id="ex-layers" size="10" '
        'placeholder="model default"></label><label>α <input id="ex-alpha" size="6" '
        'placeholder="default"></label><button id="ex-run">run again</button></div>'
        '<p id="ex-status" class="note">Type a query and press Enter.</p>'
        '<iframe id="ex-view" title="the page of the last run"></iframe>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}{APP_CSS}</style>\n</head>\n<body>\n{body}\n"
        f"<script>{asset_script('explore.js')}</script>\n</body>\n</html>\n"
    )


class ExploreServer(ThreadingHTTPServer):
    """The explorer served on 127.0.0.1:``port`` (0: any free port)."""

    daemon_threads = True
    #: Ctrl-C stops at once: closing never waits for a request still being computed (a long localization).
    block_on_close = False

    def __init__(self, explorer: Explorer, port: int = 8765) -> None:
        super().__init__((HOST, port), _Handler)
        self.explorer = explorer

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: ExploreServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal shows the URL and errors, not every request."""

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode("utf-8"), "application/json")

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        if path == "/":
            self._send(HTTPStatus.OK, app_page().encode("utf-8"), "text/html; charset=utf-8")
        elif path == "/audio":
            self._json(HTTPStatus.OK, self.server.explorer.items())
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        url = urlparse(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_UPLOAD:
                raise WTLError(f"larger than {MAX_UPLOAD // 2**20} MiB; run localize --html on it instead")
            data = self.rfile.read(length)
            if url.path == "/upload":
                name = (parse_qs(url.query).get("name") or ["upload"])[0]
                self._json(HTTPStatus.OK, self.server.explorer.upload(name, data).to_json())
            elif url.path == "/run":
                try:
                    ask = json.loads(data or b"{}")
                except ValueError:
                    raise WTLError("the request is not JSON") from None
                if not isinstance(ask, dict):
                    raise WTLError("the request is not a JSON object")
                explorer = self.server.explorer
                page = explorer.run(ask.get("audio"), ask.get("queries"), ask.get("layers"), ask.get("alpha"))
                self._json(HTTPStatus.OK, {"html": page})
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such action: {url.path}"})
        except WTLError as exc:
            self._json(HTTPStatus.OK, {"error": str(exc)})
        except Exception as exc:  # a bug: one line in the page, the traceback on the console
            traceback.print_exc(file=sys.stderr)
            first = (str(exc).splitlines() or [""])[0]
            message = f"internal error ({type(exc).__name__}: {first}); the server's console has the details"
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": message})


def serve(explorer: Explorer, port: int = 8765, background: bool = False) -> ExploreServer:
    """Start the server; ``background`` serves from a daemon thread (tests, notebooks) and returns at
    once, otherwise this blocks until interrupted. Stop it with ``shutdown()`` and ``server_close()``."""
    server = ExploreServer(explorer, port)
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return server
