"""Loading a Python file by path: config files, sweep files and the benchmarks' config lists are not importable
packages, so they are run as modules from wherever they are."""

from __future__ import annotations

import importlib.util
import os
import types

from transformer_jax.errors import MissingFileError


def load_module(path: str, name: str | None = None) -> types.ModuleType:
  """The module the Python file at `path` defines; a missing file is a MissingFileError naming it."""
  if not os.path.isfile(path):
    raise MissingFileError(f"{path!r} not found: pass the path of an existing .py file")
  name = name or "_loaded_" + os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, os.path.abspath(path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module
