"""The errors facepipe raises for its users to act on, importable from every layer."""


class ConfigError(ValueError):
    """A configuration mistake, with a message that says what to change."""
