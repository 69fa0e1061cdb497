"""How documents run: execution plans, hooks, inputs, limits, cost, caching, error masking."""
