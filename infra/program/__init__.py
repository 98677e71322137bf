"""The Pulumi program of one tenant stack: the component, the azuread provider, the tool's own dynamic providers.

``infra/__main__.py`` (what ``pulumi up -s <tenant>`` runs at the repository root) calls :mod:`.stack`.
"""
