"""The taxcalc-consent command line: thin Typer commands over the core in ``infra``."""
