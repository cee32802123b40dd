"""Part "attention" of the device check: every attention implementation against an independent reference.

Each implementation of `transformer_jax.attention.dot_product_attention` ("naive", "xla", "cudnn") runs forward and
backward (jax.vjp) on a batch of rows of one sentence each, padded to a bucket length, as the bucketed batcher makes
them: full rows, padded rows, and empty rows (batch padding: no query and no key is real). Three masks: encoder
self-attention (padding keys masked), decoder self-attention (causal too) and cross-attention (target queries over
source keys). The fused paths take such rows as sequence lengths (attention.AttentionMask(packed=False)).

The reference is computed apart from the code under test: numpy in float64, softmax attention and its analytic
gradients, from exactly the inputs the implementation gets (bfloat16 inputs are rounded first, then widened), with
the output's cotangent zero on padding queries (their outputs are never used). Compared:
- the output on real query positions, and the gradients of the queries, keys and values everywhere (the reference's
  are zero where nothing real depends on them);
- every output and gradient must be finite, padding queries and empty rows included (the module's docstring
  promises finite values there on every path).
The error is the largest absolute difference divided by max(1, largest |reference|) over the compared values; the
thresholds (THRESHOLDS) are fixed in advance, per dtype and matmul precision. float32 runs twice: at "highest"
precision (true float32 products) and at JAX's default, which on NVIDIA GPUs since Ampere multiplies in TF32.
cuDNN's fused attention has bfloat16 kernels only; where it cannot run (no GPU, or CUDA 13, where JAX's own tests
skip it: jax-ml/jax#32430, "cuDNN creates no execution plans") the error is recorded and the other paths go on.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from transformer_jax import attention

# Largest |got - reference| / max(1, largest |reference|), output and gradients alike.
THRESHOLDS = {"bfloat16": 2e-2, "float32/highest": 1e-5, "float32/default": 5e-3}
# (implementation, dtype, matmul precision) in the order they run.
VARIANTS = (("naive", "bfloat16", "default"), ("xla", "bfloat16", "default"), ("cudnn", "bfloat16", "default"),
            ("naive", "float32", "highest"), ("xla", "float32", "highest"), ("cudnn", "float32", "highest"),
            ("naive", "float32", "default"), ("xla", "float32", "default"))
NOT_APPLICABLE = {("cudnn", "float32"): "cuDNN's fused attention has no float32 kernel"}
MASKS = ("encoder_self", "decoder_self", "cross")
KNOWN_ISSUES = {"cudnn": "JAX's tests skip cuDNN fused attention on CUDA >= 13 (jax-ml/jax#32430: cuDNN creates no "
                         "execution plans)"}


def threshold_key(dtype: str, precision: str) -> str:
  return "bfloat16" if dtype == "bfloat16" else f"float32/{precision}"


def row_lengths(rng: np.random.Generator, rows: int, length: int, empty: int) -> np.ndarray:
  """One full row, `empty` empty rows at the end, the others padded (1 .. length - 1 real tokens)."""
  lengths = rng.integers(1, length, size=rows)
  lengths[0] = length
  lengths[rows - empty:] = 0
  return lengths


def segments(lengths: np.ndarray, length: int) -> np.ndarray:
  return (np.arange(length)[None, :] < lengths[:, None]).astype(np.int32)


def case(length: int, rows: int, heads: int, head_dim: int, seed: int) -> dict:
  """Inputs of one bucket length, float32 on the host."""
  rng = np.random.default_rng(seed + length)
  source_lengths = row_lengths(rng, rows, length, empty=2)
  target_lengths = row_lengths(rng, rows, length, empty=2)
  shape = (rows, length, heads, head_dim)
  draw = lambda: rng.standard_normal(shape).astype(np.float32)
  return {"q": draw(), "k": draw(), "v": draw(), "g": draw(), "source_lengths": source_lengths,
          "target_lengths": target_lengths}


def mask_lengths(inputs: dict, mask: str) -> tuple[np.ndarray, np.ndarray, bool]:
  """(query lengths, key lengths, causal) of a mask kind."""
  source, target = inputs["source_lengths"], inputs["target_lengths"]
  return {"encoder_self": (source, source, False), "decoder_self": (target, target, True),
          "cross": (target, source, False)}[mask]


def reference(q, k, v, g, query_lengths, key_lengths, causal: bool):
  """Attention and its gradients (of sum(output * g) over real queries) in float64: [rows, length, heads, dim]."""
  q, k, v, g = (np.asarray(x, np.float64).transpose(0, 2, 1, 3) for x in (q, k, v, g))  # [rows, heads, len, dim]
  length_q, length_k, dim = q.shape[2], k.shape[2], q.shape[3]
  allowed = ((np.arange(length_q)[None, :, None] < query_lengths[:, None, None]) &
             (np.arange(length_k)[None, None, :] < key_lengths[:, None, None]))
  if causal:
    allowed &= np.arange(length_k)[None, None, :] <= np.arange(length_q)[None, :, None]
  allowed = allowed[:, None]  # [rows, 1, q, k]
  scores = np.where(allowed, q @ k.swapaxes(-1, -2) / np.sqrt(dim), -np.inf)
  top = np.max(scores, axis=-1, keepdims=True)
  weights = np.where(allowed, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
  total = weights.sum(axis=-1, keepdims=True)
  weights = weights / np.where(total > 0, total, 1.0)  # a query with no key: all zero (never compared)
  output = weights @ v
  real_query = (np.arange(length_q)[None, :] < query_lengths[:, None])[:, None, :, None]
  g = np.where(real_query, g, 0.0)
  d_v = weights.swapaxes(-1, -2) @ g
  d_weights = g @ v.swapaxes(-1, -2)
  d_scores = weights * (d_weights - (d_weights * weights).sum(axis=-1, keepdims=True))
  d_q = d_scores @ k / np.sqrt(dim)
  d_k = d_scores.swapaxes(-1, -2) @ q / np.sqrt(dim)
  back = lambda x: x.transpose(0, 2, 1, 3)
  return back(output), back(d_q), back(d_k), back(d_v)


def implementation(impl: str, masks: tuple[str, ...]):
  """jitted (q, k, v, g, {mask: (query segments, key segments)}) -> {mask: (output, (dq, dk, dv))} through the
  module under test: one compile for the masks together."""

  def run(q, k, v, g, segments_by_mask):
    out = {}
    for mask in masks:
      query_segments, key_segments = segments_by_mask[mask]
      spec = attention.AttentionMask(query_segments, key_segments, causal=mask == "decoder_self", packed=False)
      output, vjp = jax.vjp(lambda q_, k_, v_, spec=spec: attention.dot_product_attention(q_, k_, v_, spec,
                                                                                        impl=impl), q, k, v)
      real = (query_segments > 0)[:, :, None, None]
      out[mask] = output, vjp(jnp.where(real, g, jnp.zeros((), g.dtype)))
    return out

  return jax.jit(run)


def scaled_error(got: np.ndarray, want: np.ndarray, where: np.ndarray | None = None) -> float:
  got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
  if where is not None:
    got, want = got[where], want[where]
  if want.size == 0:
    return 0.0
  return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def check_masks(impl: str, dtype: str, precision: str, inputs: dict, masks: tuple[str, ...],
                references: dict | None = None) -> dict:
  """{mask: its verdict} for one bucket length, the masks in one compile. `references` keeps the reference of each
  (length, mask, input dtype) for the next implementation."""
  references = {} if references is None else references
  length = inputs["q"].shape[1]
  jdtype = jnp.bfloat16 if dtype == "bfloat16" else jnp.float32
  q, k, v, g = (jnp.asarray(inputs[name]).astype(jdtype) for name in "qkvg")
  segments_by_mask = {}
  for mask in masks:
    query_lengths, key_lengths, _ = mask_lengths(inputs, mask)
    segments_by_mask[mask] = segments(query_lengths, length), segments(key_lengths, length)
  fn = implementation(impl, masks)
  if precision == "highest":
    with jax.default_matmul_precision("highest"):
      got = jax.device_get(fn(q, k, v, g, segments_by_mask))
  else:
    got = jax.device_get(fn(q, k, v, g, segments_by_mask))
  # The reference sees exactly what the implementation sees: the rounded inputs, widened.
  widened = [np.asarray(x.astype(jnp.float32)) for x in (q, k, v, g)]
  limit = THRESHOLDS[threshold_key(dtype, precision)]
  verdicts = {}
  for mask in masks:
    query_lengths, key_lengths, causal = mask_lengths(inputs, mask)
    key = (length, mask, dtype)
    if key not in references:
      references[key] = reference(*widened, query_lengths, key_lengths, causal)
    want = references[key]
    output, grads = got[mask]
    real = np.broadcast_to((np.arange(length)[None, :] < query_lengths[:, None])[:, :, None, None], output.shape)
    finite = all(bool(np.isfinite(np.asarray(x, np.float32)).all()) for x in (output, *grads))
    output_error = scaled_error(output, want[0], real)
    grad_error = max(scaled_error(got_grad, want_grad) for got_grad, want_grad in zip(grads, want[1:]))
    passed = finite and output_error <= limit and grad_error <= limit
    verdicts[mask] = {"status": "pass" if passed else "fail", "output_error": output_error,
                      "grad_error": grad_error, "all_finite": finite}
  return verdicts


def check_length(impl: str, dtype: str, precision: str, inputs: dict, references: dict | None = None) -> dict:
  """check_masks over MASKS; where that fails, each mask alone, so that the error names the mask it belongs to."""
  try:
    return check_masks(impl, dtype, precision, inputs, MASKS, references)
  except Exception:  # pylint: disable=broad-except
    pass
  verdicts = {}
  for mask in MASKS:
    try:
      verdicts.update(check_masks(impl, dtype, precision, inputs, (mask,), references))
    except Exception as error:  # pylint: disable=broad-except
      verdicts[mask] = {"status": "error", "error": f"{type(error).__name__}: {str(error)[:1500]}"}
  return verdicts


def run(lengths: list[int], rows: int, heads: int, head_dim: int, seed: int, deadline: float, record, log) -> dict:
  """Every variant x bucket length x mask; `record(result)` is called after each variant (the caller saves it)."""
  result = {"thresholds": THRESHOLDS, "error_measure": "max |got - reference| / max(1, max |reference|); output on "
            "real queries, gradients of q, k, v everywhere; every value must be finite",
            "reference": "numpy float64 from the same (rounded) inputs, analytic gradients",
            "shape": {"rows": rows, "heads": heads, "head_dim": head_dim, "bucket_lengths": lengths,
                      "empty_rows": 2, "full_rows": 1},
            "variants": {}}
  cases = {length: case(length, rows, heads, head_dim, seed) for length in lengths}
  references = {}
  for length, inputs in cases.items():
    result["shape"][f"source_lengths_{length}"] = inputs["source_lengths"].tolist()
    result["shape"][f"target_lengths_{length}"] = inputs["target_lengths"].tolist()
  for impl, dtype, precision in VARIANTS:
    name = f"{impl}/{dtype}/{precision}"
    entry = result["variants"][name] = {"impl": impl, "dtype": dtype, "precision": precision,
                                        "threshold": THRESHOLDS[threshold_key(dtype, precision)], "cases": {}}
    if (impl, dtype) in NOT_APPLICABLE:
      entry.update(status="not_applicable", reason=NOT_APPLICABLE[(impl, dtype)])
      record(result)
      continue
    started = time.perf_counter()
    entry["status"] = "running"  # left so if the part is killed at its deadline
    errors = []
    for length, inputs in cases.items():
      if time.time() > deadline:
        verdicts = {mask: {"status": "skipped", "reason": "the part's time is spent"} for mask in MASKS}
      else:
        verdicts = check_length(impl, dtype, precision, inputs, references)
      for mask, verdict in verdicts.items():
        entry["cases"][f"{length}/{mask}"] = verdict
        if "error" in verdict:
          errors.append(verdict["error"])
      record(result)  # each length as it is done: a part killed at its deadline keeps them
    statuses = [c["status"] for c in entry["cases"].values()]
    entry["seconds"] = round(time.perf_counter() - started, 2)
    entry["status"] = ("error" if "error" in statuses else "fail" if "fail" in statuses else
                       "skipped" if "skipped" in statuses else "pass")
    measured = [c for c in entry["cases"].values() if "output_error" in c]
    if measured:
      entry["max_output_error"] = max(c["output_error"] for c in measured)
      entry["max_grad_error"] = max(c["grad_error"] for c in measured)
    if errors:
      entry["error"] = errors[0]
      if impl in KNOWN_ISSUES:
        entry["known_issue"] = KNOWN_ISSUES[impl]
    log(f"attention {name}: {entry['status']}" + (
        f", output error {entry['max_output_error']:.2e}, gradient error {entry['max_grad_error']:.2e} "
        f"(threshold {entry['threshold']:.0e})" if measured else "") + (f"; {errors[0][:300]}" if errors else ""))
    record(result)
  required = [v for v in result["variants"].values() if v["impl"] != "cudnn" and v["status"] != "not_applicable"]
  result["passed"] = all(v["status"] == "pass" for v in required)
  result["passed_note"] = "naive and xla must pass; cudnn is reported (it may be unavailable on this platform)"
  return result
