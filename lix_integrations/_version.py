"""The version, in one place (the build reads it from here too), below everything that names it."""

__version__ = "0.1.0"
