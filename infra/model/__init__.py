"""The model: tenant files and their reading, ``_defaults.yaml``, the plan, the resource kinds, the documents.

Pure: no Graph, no engine, no console. Everything above it (Graph I/O, the Pulumi program, the policy pack,
the fleet driver, the CLI) works on what this layer returns.
"""
