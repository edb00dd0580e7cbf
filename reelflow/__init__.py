"""Reelflow's face: the settings object, the CLI and the local stack manager."""

__version__ = "0.1.0"
