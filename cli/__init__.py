"""The taxcalc-consent command line: the fleet driver (``fleet/``), and thin Typer commands (``commands/``, with
their options, console and renderers in ``ui/``) over it and over ``infra``."""
