"""Modelgate's CI client: `modelgate scan PATH…` and `modelgate gate REPO@REV --stage S --dir DIR`."""

__version__ = "0.1.0"
