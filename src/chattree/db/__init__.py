"""Persistence: typed models, the engine, migrations and the tree queries."""
