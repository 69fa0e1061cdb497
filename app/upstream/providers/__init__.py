"""One package per provider, each declaring everything of it; app/upstream/registry.py lists
them, and nothing else imports them."""
