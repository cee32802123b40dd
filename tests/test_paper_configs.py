"""The paper's WMT configs end as the paper does (section 6.1): the final test decodes the mean of the last 5
checkpoints for base and the last 20 for big, and the run keeps every checkpoint that average reads."""

import glob
import os

import pytest

from tests.helpers import ROOT
from transformer_jax import config_base

# Every paper config in configs/, with the number of checkpoints the paper averages for its model size.
PAPER_CONFIGS = {"wmt14_ende_base.py": 5, "wmt14_ende_big.py": 20, "wmt14_enfr_base.py": 5, "wmt14_enfr_big.py": 20}


def test_every_wmt_config_is_checked():
  assert sorted(os.path.basename(path) for path in glob.glob(os.path.join(ROOT, "configs", "wmt*.py"))) == sorted(
      PAPER_CONFIGS)


@pytest.mark.parametrize("name,averaged", sorted(PAPER_CONFIGS.items()))
def test_final_test_averages_the_papers_checkpoints(name, averaged):
  # The same flag parsing as `main --config=configs/NAME` (and `reproduce`, whose default is test_average_last).
  config = config_base.load_config_file(os.path.join(ROOT, "configs", name))
  config_base.validate(config)
  assert config.test_average_last == averaged
  assert not config.test_score_final_step  # the test set is decoded once, with the average
  assert config.max_checkpoints_to_keep >= config.test_average_last  # the averaged checkpoints are all kept
  # The run writes at least that many checkpoints, the last at its final step.
  assert config.num_train_steps // config.checkpoint_every_steps >= config.test_average_last
  assert config.num_train_steps % config.checkpoint_every_steps == 0
