"""taxcalc-consent."""
