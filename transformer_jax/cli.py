"""What every command shares: absl flags, a user's mistake printed as one message, quiet library logs.

  if __name__ == "__main__":
    cli.run(main)
"""

from __future__ import annotations

import logging as std_logging
import os
import sys
import traceback

from absl import app, flags, logging

from transformer_jax.errors import UserError

# Exit status of a user's mistake (absl uses 1 for its own flag and usage errors).
USER_ERROR_EXIT = 2


class _QuietLibraries:
  """Drops library chatter that is not a warning: Orbax logs every step of every save at INFO, and JAX logs at INFO
  each accelerator backend it probed and did not find (TPU, CUDA) on a CPU machine. Warnings and errors pass."""

  def filter(self, record) -> bool:
    if record.levelno >= std_logging.WARNING:
      return True
    if "/orbax/" in record.pathname:
      return False
    return not (record.pathname.endswith("xla_bridge.py") and "Unable to initialize backend" in record.getMessage())


def quiet_library_logs() -> None:
  logging.get_absl_handler().addFilter(_QuietLibraries())


def _raised_inside(error: BaseException, package: str) -> bool:
  frames = traceback.extract_tb(error.__traceback__)
  return bool(frames) and f"{os.sep}{package}{os.sep}" in frames[-1].filename


def _message(error: BaseException) -> str:
  # ml_collections wraps a KeyError in an AttributeError; the innermost string argument is the message.
  while error.args and isinstance(error.args[0], BaseException):
    error = error.args[0]
  return error.args[0] if error.args and isinstance(error.args[0], str) else str(error)


def _fail(message: str) -> None:
  sys.stderr.write(f"Error: {message}\n")
  sys.stderr.flush()
  sys.exit(USER_ERROR_EXIT)


def _parse_flags(argv: list[str]) -> list[str]:
  """absl's parser, plus: ml_collections refusing an override (unknown key, wrong type) is a user error."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as error:  # an unknown flag, or a value of the wrong type (--config.num_layers=four)
    _fail(f"{error}. --helpshort lists this command's flags; the config keys and their types are in "
          "transformer_jax/config_base.py.")
  except (KeyError, AttributeError, TypeError, ValueError) as error:
    if not _raised_inside(error, "ml_collections"):
      raise  # e.g. a bug in a config file: its traceback says where
    _fail(f"bad --config override: {_message(error)}. The keys and their types are in "
          "transformer_jax/config_base.py.")
    raise  # unreachable: _fail exits


def run(main) -> None:
  """app.run(main) with user errors (flags, config, data, workdir, checkpoints) printed without a traceback."""

  def main_with_quiet_logs(argv):
    quiet_library_logs()
    return main(argv)

  try:
    app.run(main_with_quiet_logs, flags_parser=_parse_flags)
  except UserError as error:
    _fail(str(error))
