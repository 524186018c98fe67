"""The ``roost`` command (Typer + Rich)."""
