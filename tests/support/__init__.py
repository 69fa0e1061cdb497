"""Helpers shared by the tests: worlds, live stacks, keys, raw HTTP, servers and paths."""
