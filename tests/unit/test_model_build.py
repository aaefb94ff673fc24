"""Building the offline model from its 4-bit file: blocks decode in order, tensor names map to BERT's."""

import struct

import numpy as np

from knowledge_base.model_build import _bert_name, _dequantize_q4_0


def test_q4_0_blocks_decode_low_then_high_nibbles():
    scale = np.float16(0.5)
    nibbles = bytes((j % 16) | (((15 - j) % 16) << 4) for j in range(16))
    block = struct.pack("<e", scale) + nibbles
    values = _dequantize_q4_0(block, 32)
    expected_low = [(j % 16 - 8) * 0.5 for j in range(16)]
    expected_high = [((15 - j) % 16 - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected_low + expected_high


def test_tensor_names_map_to_bert():
    assert _bert_name("emb.word") == "embeddings.word_embeddings.weight"
    assert _bert_name("emb.ln.b") == "embeddings.LayerNorm.bias"
    assert _bert_name("l11.fo.w") == "encoder.layer.11.output.dense.weight"
    assert _bert_name("l0.ao.b") == "encoder.layer.0.attention.output.dense.bias"
