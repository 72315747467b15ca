"""chaton-ops: the ops toolkit of small hosting collectives."""

__version__ = "0.1.0"
