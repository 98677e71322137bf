from taxcalc_consent.cli.main import run

run()
