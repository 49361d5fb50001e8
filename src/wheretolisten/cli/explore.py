"""``explore``: the local web app (``wheretolisten.explore``) on the shipped model or any other."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..audio import FORMATS_TEXT
from ..errors import OptionError
from .app import app
from .groups import DeviceFlags, grouped
from .options import ModelOpt, check_audio, detect_config


@app.command()
@grouped
def explore(
    audio: Annotated[
        list[Path] | None,
        typer.Argument(
            help=f"Audio files to offer in the app ({FORMATS_TEXT}); more can be dropped in.",
            metavar="[AUDIO]...",
        ),
    ] = None,
    model: ModelOpt = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free one).")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open/--no-open", help="Open the app in the default browser.", metavar="")
    ] = False,
    device: DeviceFlags = DeviceFlags(),
) -> None:
    """A local web app on 127.0.0.1: drop in audio, type queries, change layers and α, and see and play
    where the model listens (the page of each run). Ctrl-C stops it."""
    files = list(audio or [])
    check_audio(files)
    if not 0 <= port <= 65535:
        raise OptionError(f"--port must be in 0..65535, got {port}")
    if port:
        _check_port(port)  # a port in use was refused only after the model loaded (5.8 s)
    adapter = device.load(model)
    from ..explore import Explorer, ExploreServer

    explorer = Explorer(adapter, files, detect_config(None, None, None))
    try:
        server = ExploreServer(explorer, port)
    except OSError as exc:
        explorer.close()
        raise _cannot_listen(port, exc) from None
    typer.echo(f"wheretolisten explore on {server.url} (model {adapter.name}); Ctrl-C stops it")
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        explorer.close()


def _cannot_listen(port: int, exc: OSError) -> OptionError:
    return OptionError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); try --port 0")


def _check_port(port: int) -> None:
    """Bind the port as the server will (address reuse on), then let it go: in use is one line now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise _cannot_listen(port, exc) from None
