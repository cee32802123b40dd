"""The experiment log: what ran, where and from which code, one entry per invocation in workdir/run_info.json.

Beside config.json (the resolved config), each start or resume of a run appends an entry with the git commit (and
whether the tree had uncommitted changes), the versions of the libraries that decide the numbers, the devices, the
host, the command line and the start time. Entries are appended, never overwritten, so a run resumed on other
hardware or other code says so.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys

import jax

from transformer_jax import workdir as workdir_lib

PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "ml_collections", "clu", "tensorflow-cpu",
            "tensorflow-datasets", "tensorboard", "sentencepiece", "sacrebleu", "numpy")
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _git(*args: str) -> str | None:
  try:
    result = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10, check=True)
  except (OSError, subprocess.SubprocessError):  # no git, not a checkout, or git hangs
    return None
  return result.stdout.strip()


def git_state() -> dict:
  """{"commit", "dirty"} of the code that runs; None where there is no git or no checkout (e.g. a pip install)."""
  commit = _git("rev-parse", "HEAD")
  # Untracked files (run outputs, scratch) are ignored: only changes to tracked code make the commit inexact.
  status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
  return {"commit": commit, "dirty": None if status is None else bool(status)}


def _version(package: str) -> str | None:
  try:
    return importlib.metadata.version(package)
  except importlib.metadata.PackageNotFoundError:
    return None


def versions(packages=PACKAGES) -> dict:
  """{package: its installed version, or None}, by distribution name (read from the metadata: nothing imported)."""
  return {package: _version(package) for package in packages}


def collect(argv: list[str] | None = None) -> dict:
  """One invocation's entry (JSON-serialisable)."""
  devices = jax.devices()
  return {
      "start_time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "command_line": list(sys.argv if argv is None else argv),
      "cwd": os.getcwd(),
      "hostname": socket.gethostname(),
      "git": git_state(),
      "python": platform.python_version(),
      "versions": versions(),
      "devices": {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices),
                  "process_count": jax.process_count()},
  }


def append(workdir: str, entry: dict | None = None) -> dict:
  """Appends this invocation's entry to workdir/run_info.json (a JSON list) and returns it.

  An unreadable file (e.g. cut short by a crash) is kept aside as run_info.json.corrupt rather than overwritten.
  """
  entry = collect() if entry is None else entry
  path = workdir_lib.path(workdir, workdir_lib.RUN_INFO)
  entries = []
  if os.path.exists(path):
    try:
      with open(path) as f:
        entries = json.load(f)
      if not isinstance(entries, list):
        raise ValueError("not a list")
    except ValueError:
      os.replace(path, path + ".corrupt")
      entries = []
  entries.append(entry)
  workdir_lib.write_json(workdir, workdir_lib.RUN_INFO, entries)  # a crash mid-write leaves the previous list intact
  return entry
