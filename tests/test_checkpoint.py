"""A checkpoint write that fails (here: a file-size limit, as a full disk fails it) names the step, leaves the
previous checkpoint intact and readable, and the run can resume from it."""

import resource
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from transformer_jax import checkpoint


@struct.dataclass
class State:
  step: jax.Array
  params: dict
  opt_state: dict


def state_at(step: int) -> State:
  keys = jax.random.split(jax.random.PRNGKey(step), 2)  # random values: zstd cannot shrink them below the limit
  return State(jnp.array(step), {"w": jax.random.normal(keys[0], (256, 256))},
               {"m": jax.random.normal(keys[1], (256, 256))})


# After the injected failure, tensorstore may finish a failed fragment write once Orbax has closed that write's event
# loop; its callback then finds the loop closed, which pytest reports as an unraisable exception. Orbax's noise, not
# ours: the checkpoints are checked below.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failed_write_names_the_step_and_keeps_the_previous_checkpoint(tmp_path):
  saver = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=1)
  saver.save(state_at(1))
  saver.wait()
  handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over-limit writes fail with EFBIG instead of killing us
  limits = resource.getrlimit(resource.RLIMIT_FSIZE)
  resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, limits[1]))
  try:
    with pytest.raises(checkpoint.CheckpointWriteError,
                       match=r"checkpoint of step 2 to .* failed: File too large.*Nothing was lost: the previous "
                             r"complete checkpoint \(step 1\) is intact"):
      saver.save(state_at(2))
      saver.wait()
  finally:
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    signal.signal(signal.SIGXFSZ, handler)
  # max_to_keep=1 did not prune step 1 for the incomplete step 2; a new run restores step 1 exactly.
  resumed = checkpoint.Checkpointer(str(tmp_path / "ckpt"), max_to_keep=1)
  assert resumed.latest_step() == 1
  restored = resumed.restore(state_at(0))
  np.testing.assert_array_equal(restored.params["w"], state_at(1).params["w"])
  resumed.save(state_at(2))  # and, with space again, step 2 is written
  resumed.wait()
  assert resumed.latest_step() == 2
