"""The demo: an OpenAI-compatible model server on loopback that needs no model."""

from chattree.demo.server import DEMO_MODEL, DemoModelServer

__all__ = ["DEMO_MODEL", "DemoModelServer"]
