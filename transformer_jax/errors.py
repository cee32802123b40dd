"""Mistakes a user can fix, as opposed to bugs.

Every command (cli.run) catches `UserError` and prints its message alone, without a traceback, exiting non-zero;
any other exception keeps its traceback. The subclasses also derive from the built-in type a caller would expect
(ValueError for a bad value, OSError for the filesystem), so `except ValueError` keeps working.
"""


class UserError(Exception):
  """A mistake in the user's input: the message names the problem and the fix."""


class ConfigError(UserError, ValueError):
  """A config key, value or combination that cannot work."""


class DataError(UserError, ValueError):
  """Unusable input data; the message names the file (and line) and what to do."""


class WorkdirError(UserError, OSError):
  """A workdir that cannot be created or written to."""


class MissingFileError(UserError, FileNotFoundError):
  """A file the command needs is not there: a run's config.json, SentencePiece model or checkpoint; an input file."""


class CheckpointMismatchError(UserError, ValueError):
  """A checkpoint that does not fit the model (trained with another config)."""


class DivergedError(UserError, FloatingPointError):
  """Training produced a non-finite loss or gradient under nonfinite_policy=stop."""
