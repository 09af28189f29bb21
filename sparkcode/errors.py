"""The one exception family sparkcode raises on purpose.

Every error a user can cause (bad flag, missing model, tampered file, path outside the
workspace, malformed request) is a `SparkcodeError` whose message says what happened and what
to do. The CLI prints it without a traceback and exits non-zero; the server maps it to a 4xx.
"""


class SparkcodeError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = 2


class ModelError(SparkcodeError):
    """A model cannot be found, assembled, verified or loaded."""


class ModelIntegrityError(ModelError):
    """Bytes on disk do not match the registry's sha256 or size: refused, nothing kept."""


class EngineError(SparkcodeError):
    """The inference engine was asked something it cannot do (context overflow, bad params)."""
