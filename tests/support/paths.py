"""Where the repository and the Node clients' packages are, wherever a test module sits."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The npm packages of the Node clients, one directory each (scripts/setup-node installs them).
NODE = ROOT / "tests" / "node"
