"""Entry point: ``latentmusic``. Command groups are discovered, heavy imports stay lazy.

Errors raised as :class:`latentmusic.errors.LatentMusicError` print one line and exit 1.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings

import typer

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
)
app.add_typer(data_cli.app, name="data")
app.add_typer(models_cli.app, name="models")
app.command("train", context_settings={"help_option_names": ["-h", "--help"]})(general.train)
app.command("eval")(general.evaluate)
app.command("info")(general.info)
app.command("demo")(general.demo)


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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one sentence on stderr and a non-zero exit."""
    warnings.formatwarning = _format_warning
    try:
        app(args=argv, prog_name="latentmusic")
    except LatentMusicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
