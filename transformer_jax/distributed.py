"""Joining a multi-process run: one process per host (or per GPU), all running the same command, and ending it
together when one of them fails.

Each process sees its local devices; `jax.distributed.initialize` connects them into one set of global devices, over
which the mesh is built. Every process then reads only its own rows of each global batch (the batchers take
process_index / process_count) and `jax.make_array_from_process_local_data` assembles the global batch.

A process that fails, or disappears, would leave the others blocked in the next collective: JAX's coordination
service notices a silent process only after its heartbeat timeout and then aborts everyone with a native crash dump,
and a process that raises waits at the shutdown barrier for minutes. So every process also runs a `PeerWatch`: a
thread that beats in the coordination service's key-value store and reads the others' beats and failure reports. A
process that raises reports its error there (`fail_together`) and exits at once; the others read it within a second,
and a process not heard from for `peer_timeout_seconds` is taken as lost. Each survivor then exits non-zero with one
line naming the process that failed first and saying that rerunning the command resumes the run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
import time
import traceback

import jax
from absl import logging

MODES = ("auto", "on", "off")
# Launchers that start one process per task and say how many there are.
_CLUSTER_SIZE_VARIABLES = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE")


def wanted(mode: str, coordinator_address: str | None) -> bool:
  """auto: when a coordinator is given (flag or JAX_COORDINATOR_ADDRESS) or a SLURM / Open MPI launch has more than
  one task; on: always (TPU pods and other clusters JAX detects itself); off: never."""
  if mode not in MODES:
    raise ValueError(f"--jax_distributed={mode!r}: must be one of {MODES}")
  if mode != "auto":
    return mode == "on"
  if coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return True
  return any(int(os.environ.get(name, "1") or 1) > 1 for name in _CLUSTER_SIZE_VARIABLES)


def initialize(mode: str = "auto", coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, peer_timeout_seconds: float = 60.0) -> bool:
  """Connects this process to the others (before any JAX computation) and starts watching them; a no-op for a
  single process.

  Arguments left as None are filled in by JAX's cluster detection (SLURM, Open MPI, TPU pods, GKE, ...).
  Returns whether the process joined a distributed run."""
  if not wanted(mode, coordinator_address):
    return False
  # CPU-only processes need a collectives backend across hosts (accelerators bring their own: NCCL, ICI).
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  # JAX's preemption notifier takes SIGTERM for a sync point this code never reaches: a SIGTERM before training
  # installs its own handler (run_guards.StopSignal) would be swallowed and the run trained on. Without it, such an
  # early SIGTERM ends the process, which the others report as lost.
  jax.config.update("jax_enable_preemption_service", False)
  # JAX's own heartbeat timeout ends in a native abort: set it well past ours, so that a lost process is reported
  # by PeerWatch first.
  jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                             process_id=process_id,
                             heartbeat_timeout_seconds=int(max(100, 2 * peer_timeout_seconds + 30)))
  logging.info("Process %d of %d; %d local and %d global devices.", jax.process_index(), jax.process_count(),
               jax.local_device_count(), jax.device_count())
  if jax.process_count() > 1:
    PeerWatch.start(peer_timeout_seconds)
  return True


_PREFIX = "transformer_jax/peer_watch"
_RERUN = ("Fix the cause if it is an error in the input or the code, then rerun the same command on every host: the "
          "run resumes from its last complete checkpoint.")


class PeerWatch:
  """The thread that ends this process when another one fails or disappears (see the module docstring).

  Key-value entries, under _PREFIX: beat/I (a counter process I raises every interval), failed/I (what ended
  process I, and when), done/I (process I ended normally: its silence is expected), stopped/I (process I read a
  failure and stops: process 0, which hosts the store, waits for these before exiting)."""

  active: "PeerWatch | None" = None

  def __init__(self, peer_timeout_seconds: float):
    from jax._src import distributed as jax_distributed  # pylint: disable=g-import-not-at-top  (the KV client)
    self.client = jax_distributed.global_state.client
    self.me, self.count = jax.process_index(), jax.process_count()
    self.timeout = float(peer_timeout_seconds)
    self.interval = min(1.0, self.timeout / 10)
    self.finished = threading.Event()
    self._stopping = threading.Lock()  # the watch thread and the main thread may both decide to stop: one speaks

  @classmethod
  def start(cls, peer_timeout_seconds: float) -> None:
    cls.active = cls(peer_timeout_seconds)
    threading.Thread(target=cls.active._watch, name="peer_watch", daemon=True).start()
    # Runs before JAX's own exit handler (registered earlier), whose shutdown barrier waits for the others.
    atexit.register(cls.active.finish)

  def finish(self) -> None:
    """This process ends normally: the others stop expecting its beat."""
    if not self.finished.is_set():
      self.finished.set()
      with contextlib.suppress(Exception):
        self.client.key_value_set(f"{_PREFIX}/done/{self.me}", "1", allow_overwrite=True)

  def _entries(self, kind: str) -> dict[int, str]:
    return {int(key.rsplit("/", 1)[1]): value for key, value in self.client.key_value_dir_get(f"{_PREFIX}/{kind}/")}

  def _watch(self) -> None:
    beats, heard = 0, {}  # heard: process -> (its last beat, when it changed)
    while not self.finished.wait(self.interval):
      try:
        beats += 1
        self.client.key_value_set(f"{_PREFIX}/beat/{self.me}", str(beats), allow_overwrite=True)
        failed, done, beat = self._entries("failed"), self._entries("done"), self._entries("beat")
      except Exception as error:  # pylint: disable=broad-except  (the store lives in process 0)
        if self.finished.is_set():
          return
        self.stop(f"process 0 was lost: the coordination service it runs stopped answering ({error})")
      if self.finished.is_set():
        return
      others = {peer: json.loads(report) for peer, report in failed.items() if peer != self.me}
      if others:
        first = min(others.values(), key=lambda report: report["time"])
        self.stop(first["cause"], report=False)
      now = time.monotonic()
      for peer in range(self.count):
        if peer == self.me or peer in done:
          continue
        if peer not in heard or heard[peer][0] != beat.get(peer):
          heard[peer] = (beat.get(peer), now)
        elif now - heard[peer][1] > self.timeout:
          self.stop(f"process {peer} was lost: not heard from for {self.timeout:.0f} s (killed, out of memory, or "
                    "its host went down)", lost=(peer,))

  def silent_peers(self, window: float) -> list[int]:
    """The peers (not done) whose beat does not move during `window` seconds. A live process beats every interval
    whatever its main thread does, so after an error in a collective this names a lost peer long before the
    timeout would."""
    before = self._entries("beat")
    time.sleep(window)
    after, done = self._entries("beat"), self._entries("done")
    return [peer for peer in range(self.count)
            if peer != self.me and peer not in done and before.get(peer) == after.get(peer)]

  def stop(self, cause: str, report: bool = True, exit_code: int = 1, lost: tuple[int, ...] = ()) -> None:
    """Ends this process now, with one line: `cause`, reported to the others (unless it came from them); `lost`:
    peers that will never read it."""
    if not self._stopping.acquire(blocking=False):
      threading.Event().wait()  # the other caller is ending the process
    self.finished.set()
    logging.flush()
    sys.stdout.flush()
    # Printed first: process 0's exit ends the coordination service, and JAX aborts a process that loses it.
    sys.stderr.write(f"Error: {cause}. Process {self.me} of {self.count} stops. {_RERUN}\n")
    sys.stderr.flush()
    with contextlib.suppress(Exception):
      if report:
        self.client.key_value_set(f"{_PREFIX}/failed/{self.me}", json.dumps({"time": time.time(), "cause": cause}),
                                  allow_overwrite=True)
      else:
        self.client.key_value_set(f"{_PREFIX}/stopped/{self.me}", "1", allow_overwrite=True)
      if self.me == 0:
        self._wait_for_the_others_to_know(lost)
    # Not sys.exit: the exit handlers would wait at JAX's shutdown barrier for processes that are gone or stuck.
    os._exit(exit_code)  # pylint: disable=protected-access

  def _wait_for_the_others_to_know(self, lost: tuple[int, ...]) -> None:
    """Process 0 hosts the store: leaving before the others have read the failure would leave them JAX's abort."""
    deadline = time.monotonic() + min(10.0, 3 * self.timeout)
    while time.monotonic() < deadline:
      known = set(lost) | {self.me}
      for kind in ("failed", "stopped", "done"):
        known |= set(self._entries(kind))
      if known >= set(range(self.count)):
        return
      time.sleep(0.1)


@contextlib.contextmanager
def fail_together():
  """In a multi-process run, an exception here ends every process within seconds: it is reported to the others and
  this process exits at once, with its traceback (a bug) or its one-line message (a user's mistake) and then the
  line saying what to do. A single process lets the exception through."""
  try:
    yield
  except BaseException as error:  # pylint: disable=broad-except
    watch = PeerWatch.active
    if watch is None or isinstance(error, SystemExit) and not error.code:
      raise
    # An error in a collective is most often a peer that died mid-exchange: then the peer is the cause to report.
    with contextlib.suppress(Exception):
      silent = watch.silent_peers(window=max(2.0, 3 * watch.interval))
      if silent:
        watch.stop(f"process {silent[0]} was lost: it stopped beating while process {watch.me} failed with "
                   f"{type(error).__name__} (killed, out of memory, or its host went down)", lost=tuple(silent))
    from transformer_jax.errors import UserError  # pylint: disable=g-import-not-at-top
    if not isinstance(error, UserError):
      traceback.print_exc()
    message = str(error).splitlines()[0] if str(error) else ""
    watch.stop(f"process {watch.me} failed: {type(error).__name__}: {message}",
               exit_code=2 if isinstance(error, UserError) else 1)
