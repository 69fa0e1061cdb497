"""Upstream session APIs: one module per provider (app/upstream/registry.py lists them), the
SessionProvider interface they implement (provider.py), and the call under them (_http.py, made
of the layers in calls/).

Import what you need from its module (`app.upstream.upstreams.Upstreams`, ...): this package
imports nothing itself, so provider modules may use app.listing without an import cycle.
"""
