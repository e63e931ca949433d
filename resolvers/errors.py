"""Errors that the command line reports as one clear line (exit status 2)."""


class AssetlakeError(Exception):
    """A user-facing failure: bad input, an incompatible lake, an unreachable service."""


class LakeError(AssetlakeError):
    """The lake is missing, written by something else, or by an incompatible version."""


class InputError(AssetlakeError):
    """An input file is unreadable or is not one of the supported formats."""
