"""The mesh and the logical axis names: sizes resolved as documented, every parameter named, rules applied."""

import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from transformer_jax import sharding
from transformer_jax.model import ModelConfig, Transformer

CFG = ModelConfig(vocab_size=32, num_layers=1, d_model=16, d_ff=32, num_heads=4, d_k=4, d_v=4, max_position=32)


@pytest.mark.parametrize("sizes,devices,expected", [
    ((-1, 1, 1), 8, (8, 1, 1)), ((2, -1, 1), 8, (2, 4, 1)), ((1, 1, -1), 8, (1, 1, 8)), ((2, 2, 1), 8, (2, 2, 1))])
def test_mesh_shape_fills_in_the_rest(sizes, devices, expected):
  assert sharding.mesh_shape(*sizes, devices) == expected


@pytest.mark.parametrize("sizes,devices", [((-1, -1, 1), 8), ((3, -1, 1), 8), ((4, 4, 1), 8), ((0, 1, 1), 8)])
def test_mesh_shape_refuses_what_does_not_fit(sizes, devices):
  with pytest.raises(ValueError, match="mesh_data/mesh_fsdp/mesh_tensor"):
    sharding.mesh_shape(*sizes, devices)


def test_make_mesh_keeps_device_order():
  mesh = sharding.make_mesh(2, 2, 2)
  assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "tensor": 2}
  assert list(mesh.devices.flat) == jax.devices()[:8]
  assert sharding.batch_shards(mesh) == 4


@pytest.mark.parametrize("positional_encoding,norm_position", [("sinusoidal", "post"), ("learned", "post"),
                                                                ("sinusoidal", "pre")])
def test_every_parameter_has_one_logical_name_per_dimension(positional_encoding, norm_position):
  cfg = dataclasses.replace(CFG, positional_encoding=positional_encoding, norm_position=norm_position)
  ones = np.ones((1, 2), np.int32)
  boxed = jax.eval_shape(lambda: Transformer(cfg).init(jax.random.PRNGKey(0), ones, ones, ones)["params"])
  leaves = jax.tree_util.tree_leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
  assert leaves and all(isinstance(x, nn.LogicallyPartitioned) and len(x.names) == x.value.ndim for x in leaves)
  specs = nn.logical_to_mesh(nn.get_partition_spec(boxed), sharding.DEFAULT_RULES)
  # The default rules, t5x style: d_ff, heads and vocabulary over "tensor", d_model over "fsdp".
  assert specs["embedder"]["token_embedding"]["embedding"] == P("tensor", "fsdp")
  assert specs["encoder_0"]["ffn"]["wi"]["kernel"] == P("fsdp", "tensor")
  assert specs["encoder_0"]["ffn"]["wo"]["kernel"] == P("tensor", "fsdp")
  assert specs["decoder_0"]["cross_attention"]["query"]["kernel"] == P("fsdp", "tensor", None)
  assert specs["decoder_0"]["cross_attention"]["out"]["kernel"] == P("tensor", None, "fsdp")
  assert specs["decoder_0"]["ffn_norm"]["norm"]["scale"] == P("fsdp")
  if norm_position == "pre":
    assert specs["encoder_norm"]["scale"] == specs["decoder_norm"]["bias"] == P("fsdp")
