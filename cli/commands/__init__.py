"""One module per command; each parses options, calls one core function and renders the result."""
