"""Heads x layers on the small embedded-corpus model (configs/default.py, d_model 128): 2 x 2 runs of 300 steps.

  python -m transformer_jax.sweep experiments/sweeps/embedded_heads_layers.py --root=runs/embedded_heads_layers

Each run takes about 3 minutes on 2 CPU cores (training, two dev evaluations, 200 test sentences). Results of one
such sweep: experiments/results/embedded_heads_layers/.
"""

from transformer_jax.sweep import Sweep, grid


def get_sweep() -> Sweep:
  return Sweep(
      config="configs/default.py",
      description=("Does a small model on the embedded corpus prefer more heads or more layers early in training? "
                   "2 x 2 grid over num_heads (2: d_k 64; 8: d_k 16) and num_layers (1, 3), d_model 128, 300 steps."),
      metric="dev/bleu_best",
      overrides=dict(max_train_seconds=0.0, num_train_steps=300, eval_every_steps=150, checkpoint_every_steps=150,
                     num_dev_bleu_sentences=100, num_test_sentences=200),
      groups={"grid": grid(num_heads=[2, 8], num_layers=[1, 3])})
