"""The ``latentmusic`` command. Modules here import only typer and the stdlib at top level."""
