"""``latentmusic studio``: the musician's tools (Melody Mixer, Latent Loops, Beat Blender,
the NSynth pad, the translation booth) as a local web page on the shipped models or any checkpoint the user names.

Only typer is imported at start-up; FastAPI, uvicorn and torch load when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def studio(
    port: Annotated[int, typer.Option(help="Port to serve on (0: any free port).")] = 8765,
    host: Annotated[
        str,
        typer.Option(
            help="Address to bind. The default serves this machine only; the studio has no "
            "log-in, so bind elsewhere only on a network you trust."
        ),
    ] = "127.0.0.1",
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            "-m",
            help="A shipped model's name or a checkpoint directory; repeat for several "
            "(default: every shipped MusicVAE, NSynth and translation model).",
        ),
    ] = None,
    workdir: Annotated[
        Path,
        typer.Option(help="The only folder the studio saves exports to and serves them from."),
    ] = Path("studio-files"),
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch.")] = None,
) -> None:
    """Melody Mixer, Latent Loops, Beat Blender, the NSynth pad and the translation booth in your
    browser, on your models.

    Serves the pages and their JSON API on this machine; open the printed address.
    """
    import sys

    from latentmusic.errors import InputError

    if not 0 <= port <= 65535:
        raise InputError(f"--port must be between 0 and 65535, not {port}.")
    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, not {threads}.")
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir {workdir} is a file, not a folder.")

    import socket

    import torch
    import uvicorn

    from latentmusic.studio.app import create_app
    from latentmusic.studio.engine import default_models, load_models, warm_up

    if threads is not None:
        torch.set_num_threads(threads)
    names = list(models or default_models())
    if not names:
        raise InputError(
            "No models to serve: none are shipped here yet; pass --models RUN with a "
            "checkpoint you trained (e.g. `latentmusic train musicvae ...`)."
        )
    loaded = load_models(names)
    warm_up(loaded)
    loopback = host in LOOPBACK
    allowed = ["127.0.0.1", "localhost", "[::1]"] if loopback else None
    app = create_app(loaded, workdir=workdir, allowed_hosts=allowed)
    if not loopback:
        typer.echo(
            f"warning: serving on {host}: anyone who can reach this address can use the studio.",
            err=True,
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(
            f"Cannot serve on {host}:{port} ({exc.strerror}); try another --port."
        ) from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    served = ", ".join(
        f"{m.name} ({m.family} {m.representation})".rstrip() for m in loaded.values()
    )
    typer.echo(f"latentmusic studio: http://{shown}:{bound}/  (models: {served})")
    typer.echo(f"exports are saved in {workdir.resolve()}; Ctrl+C stops the studio")
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    _server_class()(config).run(sockets=[sock])
    typer.echo("studio stopped")


def _server_class():  # noqa: ANN202
    import contextlib
    import signal
    import threading

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, except that Ctrl+C (or SIGTERM) is how a studio is meant to
        stop: it shuts down gracefully and the command returns normally, instead of raising
        the signal again after shutdown (which the CLI would report as an interruption)."""

        @contextlib.contextmanager
        def capture_signals(self):  # noqa: ANN202
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server
