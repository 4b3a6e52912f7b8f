"""localgce: a local Compute Engine API emulator (see docs/dev/localgce.md)."""

__version__ = "0.1.0"
