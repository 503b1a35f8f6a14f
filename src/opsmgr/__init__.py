"""opsmgr: an operations manager with people in the loop (Itential Operations Manager compatible)."""

__version__ = "0.1.0"
