"""Where the layer norm goes: post-LN (the paper) against pre-LN on Multi30k EN-DE, with and without warmup, at two
peak learning rates, and deeper, at one step budget per run (Xiong et al. 2020's question on a 2-core CPU).

  python -m transformer_jax.sweep experiments/sweeps/norm_position_multi30k.py --root=runs/norm_position \
      --set multi30k_dir=DIR
  python experiments/norm_position_report.py --root=runs/norm_position \
      --output=experiments/results/norm_position_multi30k

The base is configs/multi30k_ende.py (cpu setting: 3+3 layers, d_model 128). The schedule is the paper's inverse
square root with a given peak: warmup W steps up to PEAK, then PEAK * sqrt(W / step); W = 1 is no warmup (the first
update already at the peak). learning_rate_scale is set so that d_model^-0.5 * scale * W^-0.5 = PEAK. Two peaks: the
base config's (1x, 0.0044) and three times it. The depth group runs 8+8 layers at the base peak. Non-finite steps are
skipped and counted (nonfinite_policy=skip) rather than ending the run, so every run reports.
"""

from configs import multi30k_ende
from transformer_jax.sweep import Sweep, point

BASE = multi30k_ende.get_config()
STEPS = 500  # 10 runs in about an hour on 2 cores (3+3 layers about 4 min a run, 8+8 about 9)
BASE_PEAK = BASE.d_model ** -0.5 * BASE.learning_rate_scale * BASE.warmup_steps ** -0.5  # 0.0044
WARMUPS = (1, 400)
PEAKS = {"1x": BASE_PEAK, "3x": 3 * BASE_PEAK}


def schedule(warmup: int, peak: float) -> dict:
  return dict(warmup_steps=warmup, learning_rate_scale=peak * BASE.d_model ** 0.5 * warmup ** 0.5)


def get_sweep() -> Sweep:
  return Sweep(
      config="configs/multi30k_ende.py",
      description=f"post-LN against pre-LN on Multi30k EN-DE, {STEPS} steps a run; peak learning rate 1x = "
                  f"{BASE_PEAK:.4f}.",
      metric="dev/bleu",
      overrides=dict(num_train_steps=STEPS, max_train_seconds=0.0, learning_rate_cooldown_steps=0,
                     eval_every_steps=STEPS // 2, num_dev_bleu_sentences=300, num_test_sentences=-1,
                     checkpoint_every_steps=STEPS, log_every_steps=20, nonfinite_policy="skip"),
      groups={
          "warmup_lr": [point(f"{norm}-w{warmup}-lr{name}", norm_position=norm, **schedule(warmup, peak))
                        for norm in ("post", "pre") for warmup in WARMUPS for name, peak in PEAKS.items()],
          "depth": [point(f"{norm}-N8-w400-lr1x", norm_position=norm, num_layers=8, **schedule(400, BASE_PEAK))
                    for norm in ("post", "pre")],
      })
