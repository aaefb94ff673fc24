"""Fine-tuned weights rounded to the 8-bit grid are exactly what ONNX Runtime's 8-bit copy computes with.

The encoder itself, with the real model, is tested in tests/model/test_embeddings.py.
"""

import numpy as np
import torch

from knowledge_base.embeddings import INT8_BLOCK, round_to_int8_grid


def _quantised_by_onnxruntime(weight: torch.Tensor) -> np.ndarray:
    """What the 8-bit copy computes with: ONNX Runtime's own quantiser, dequantised."""
    from onnxruntime.capi._pybind_state import quantize_matmul_8bits

    rows, columns = weight.shape  # (out, in); the exported MatMul takes its transpose
    matrix = np.ascontiguousarray(weight.detach().numpy().T)
    blocks = columns // INT8_BLOCK
    packed = np.zeros((rows, blocks, INT8_BLOCK), dtype="uint8")
    scales = np.zeros((rows, blocks), dtype=np.float32)
    zero_points = np.zeros((rows, blocks), dtype="uint8")
    quantize_matmul_8bits(packed, matrix, scales, zero_points, INT8_BLOCK, rows, columns, True)
    return ((packed.astype(np.float32) - 128) * scales[:, :, None]).reshape(rows, columns)


def test_rounded_weights_are_what_the_8bit_copy_computes_with():
    layer = torch.nn.Linear(96, 4)
    with torch.no_grad():
        # fine-tuned weights: on no grid
        layer.weight.copy_(torch.randn(4, 96, generator=torch.Generator().manual_seed(7)) * 0.05)
    original = layer.weight.detach().clone()
    assert np.abs(_quantised_by_onnxruntime(original) - original.numpy()).max() > 1e-5
    assert round_to_int8_grid(torch.nn.Sequential(layer)) == 1
    rounded = layer.weight.detach().clone()
    assert np.array_equal(_quantised_by_onnxruntime(rounded), rounded.numpy())  # exact: the copy changes nothing
    # a step is a block's largest magnitude / 128: half a step at most, but a whole one for a
    # weight near minus the block's extreme, whose level 128 is clamped to 127 (ONNX Runtime's grid)
    assert 0 < (rounded - original).abs().max() <= original.abs().max() / 128
    round_to_int8_grid(torch.nn.Sequential(layer))
    assert torch.equal(layer.weight, rounded)  # rounding again changes nothing
