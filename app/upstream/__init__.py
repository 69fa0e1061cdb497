"""Upstream session APIs: one package per provider under providers/ (registry.py lists them),
the SessionProvider interface they implement (provider.py), and the call under them (endpoint.py,
made of the layers in calls/).

Import what you need from its module (`app.upstream.upstreams.Upstreams`, ...): this package
imports nothing itself, so provider packages may use app.listing without an import cycle.
"""
