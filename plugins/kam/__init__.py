"""kam: the key-account value warehouse."""

__version__ = "0.1.0"
