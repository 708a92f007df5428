"""The ``runnel`` command line (Typer + Rich); only this package imports them."""
