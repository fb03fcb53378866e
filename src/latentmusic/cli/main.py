"""Entry point: ``latentmusic``. Command groups are discovered, heavy imports stay lazy.

Errors raised as :class:`latentmusic.errors.LatentMusicError` print one line and exit 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import signal
import sys
import warnings
from typing import Annotated

import typer
from typer._click import exceptions as click_exceptions

from latentmusic.cli import data as data_cli
from latentmusic.cli import general
from latentmusic.cli import models as models_cli
from latentmusic.errors import LatentMusicError, LatentMusicWarning
from latentmusic.registry import family_names

app = typer.Typer(
    name="latentmusic",
    help="Learned latent spaces of music: train, encode, decode, interpolate, translate, generate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    # Inherited by every group and command: `-h` works everywhere.
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from latentmusic import __version__

        typer.echo(f"latentmusic {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print the version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    """Learned latent spaces of music: train, encode, decode, interpolate, translate, generate."""


app.add_typer(data_cli.app, name="data")
app.add_typer(models_cli.app, name="models")
app.command("train")(general.train)
app.command("eval")(general.evaluate)
app.command("info")(general.info)
app.command("demo")(general.demo)
app.command("studio")(importlib.import_module("latentmusic.cli.studio").studio)


def _register_families() -> None:
    """Each family's CLI module, where it exists, adds its group and top-level verbs."""
    for name in family_names():
        if importlib.util.find_spec(f"latentmusic.cli.{name}") is None:
            continue
        module = importlib.import_module(f"latentmusic.cli.{name}")
        if hasattr(module, "app"):
            app.add_typer(module.app, name=name)
        for command_name, function in getattr(module, "top_level_commands", {}).items():
            app.command(command_name)(function)


_register_families()


_python_format_warning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    """Our own warnings read like our errors: one line, no source location."""
    if issubclass(category, LatentMusicWarning):
        return f"warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


class _Signals:
    """SIGINT and SIGTERM both become KeyboardInterrupt, so every ``finally`` (temporary
    files, partial run folders) cleans up the same way; which signal came is remembered
    so the CLI can say "interrupted" and exit 128 + its number."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: object) -> None:  # noqa: ARG002
        self.received = signum
        raise KeyboardInterrupt

    def __enter__(self) -> _Signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                break
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


_UNREADABLE = re.compile(r"^\w+ (['\"])(?P<path>.*)\1 is not readable\.$")


def _unreadable(exc: click_exceptions.UsageError) -> str | None:
    """typer refuses an existing path it may not read before our own checks run; say it the
    way every other unreadable file is said."""
    if not isinstance(exc, click_exceptions.BadParameter):
        return None
    match = _UNREADABLE.match(str(exc.message))
    return f"{match['path']} cannot be read (permission denied)." if match else None


def _usage_error(exc: click_exceptions.UsageError) -> str:
    """click's usage error as one sentence, with where to look for help."""
    message = _one_line(exc.format_message()).rstrip(".") + "."
    ctx = exc.ctx
    if ctx is not None:
        message += f" See '{ctx.command_path} -h'."
    return message


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one sentence on stderr and a non-zero exit."""
    warnings.formatwarning = _format_warning
    with _Signals() as signals:
        try:
            code = app(args=argv, prog_name="latentmusic", standalone_mode=False)
        except LatentMusicError as exc:
            print(f"error: {_one_line(str(exc))}", file=sys.stderr)
            sys.exit(1)
        except click_exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click_exceptions.UsageError as exc:
            unreadable = _unreadable(exc)
            if unreadable is not None:
                print(f"error: {unreadable}", file=sys.stderr)
                sys.exit(1)
            print(f"error: {_usage_error(exc)}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            print(f"error: {_one_line(exc.format_message())}", file=sys.stderr)
            sys.exit(exc.exit_code)
        except typer.Abort:
            print("error: aborted.", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            signals.received = signals.received or signal.SIGINT
            code = 128 + signals.received
        except SystemExit:
            if signals.received is None:
                raise
            code = 128 + signals.received  # a library's own exit after our interrupt
    if signals.received is not None:
        name = "SIGTERM" if signals.received == signal.SIGTERM else "Ctrl-C"
        print(f"error: interrupted ({name}).", file=sys.stderr)
        sys.exit(128 + signals.received)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
