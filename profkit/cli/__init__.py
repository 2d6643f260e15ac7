"""The command-line interface: one thin module per command, wired up in ``main``."""
