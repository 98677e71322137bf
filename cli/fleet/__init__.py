"""The fleet driver: runs the engine (Automation API) over many tenants and returns results; it renders nothing."""
