"""Pulumi entry point: ``pulumi up -s <stack>`` at the repository root (Pulumi.yaml ``main: infra/``).

The program itself is ``taxcalc_consent.infra.program.stack``; this file only starts it, importing the
installed package by name, so it needs no path of its own and runs the same from a checkout or a wheel.
"""

from taxcalc_consent.infra.program.stack import main

main()
