"""The word-embedding table kept in 4 bits inside the exported encoder, exactly.

The table is most of a small multilingual model (e5-small's is 250,037 x 384
floats, most of the ONNX session's memory), for a vocabulary of which a help
centre uses a small part. The default model's table was rebuilt from 4-bit
weights (``model_build``: each block of 32 values is a whole level in [-8, 7]
times one float16 scale), so the same numbers fit in half a byte each plus a
scale per block, an eighth of the float table (docs/benchmarks.md has the memory
saved). The exported graph gathers a question's rows of the
packed table and unpacks them with plain arithmetic (a division by 16, a floor,
a multiplication by the scale), which reproduces every value bit for bit, so the
vectors do not change at all. A table that is not on that grid (a hub model,
all-MiniLM) is not packed and stays in float.

ONNX Runtime has a quantised gather of its own (``GatherBlockQuantized``), but its
quantiser lifts the graph to opset 21, which the opset-17 export does not survive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

BLOCK = 32  # values per scale, along a row of the table
LEVELS = 8  # levels run over [-LEVELS, LEVELS - 1]
SAMPLE_ROWS = 1024  # rows tried first, so that a float table is turned down at once
CHUNK_ROWS = 16384  # rows packed at a time after those: about 25 MB of floats


def pack(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(packed, scales)`` when every value is a 4-bit level times its block's float16 scale, else None.

    ``packed`` is uint8 of shape (rows, columns / 2): byte j of a row holds value j
    in its low half and value j + columns / 2 in its high half, each as level + 8.
    ``scales`` is float32 of shape (rows, columns / 32). The rows are taken a chunk
    at a time, so the work costs a few tens of MB beside the table, not several
    copies of it; the first chunk is small, so that a float table is turned down at once.
    """
    rows, columns = table.shape
    if columns % (2 * BLOCK):
        return None
    packed, scales = [], []
    start = 0
    while start < rows:
        stop = min(rows, start + (SAMPLE_ROWS if start == 0 else CHUNK_ROWS))
        chunk = _pack_rows(table[start:stop])
        if chunk is None:
            return None
        packed.append(chunk[0])
        scales.append(chunk[1])
        start = stop
    if not packed:
        return None
    return torch.cat(packed).contiguous(), torch.cat(scales).contiguous()


def _pack_rows(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """:func:`pack` for one chunk of rows."""
    rows, columns = table.shape
    flat = table.detach().to(torch.float32).reshape(-1, BLOCK)
    largest = flat.abs().amax(-1, keepdim=True)
    scales = torch.zeros_like(largest)
    levels = torch.zeros_like(flat)
    unsolved = torch.nonzero(largest.squeeze(-1) > 0).squeeze(-1)  # an all-zero block is level 0 at scale 0
    # The block's largest magnitude is |level| x |scale| for some level 1..8, and the
    # scale (a float16, negative where the extreme value is positive: level -8 is
    # the only one with no opposite) is largest / level rounded back exactly.
    for level in range(LEVELS, 0, -1):
        for sign in (-1.0, 1.0):
            if unsolved.numel() == 0:
                break
            values = flat[unsolved]
            scale = (sign * largest[unsolved] / level).to(torch.float16).to(torch.float32)
            rounded = torch.round(values / scale)
            exact = ((rounded * scale) == values).all(-1) & (rounded >= -LEVELS).all(-1) & (rounded < LEVELS).all(-1)
            solved = unsolved[exact]
            scales[solved] = scale[exact]
            levels[solved] = rounded[exact]
            unsolved = unsolved[~exact]
    if unsolved.numel():
        return None
    unsigned = (levels.reshape(rows, columns) + LEVELS).to(torch.uint8)
    half = columns // 2
    return unsigned[:, :half] + unsigned[:, half:] * 16, scales.reshape(rows, columns // BLOCK)


class PackedEmbedding(torch.nn.Module):
    """An ``nn.Embedding`` look-up over the packed table, for export: the same floats, a sixth of the memory."""

    def __init__(self, packed: torch.Tensor, scales: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("packed", packed)
        self.register_buffer("scales", scales)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        flat = input_ids.reshape(-1)
        packed: torch.Tensor = self.packed  # type: ignore[assignment]
        scales: torch.Tensor = self.scales  # type: ignore[assignment]
        halves = torch.index_select(packed, 0, flat).to(torch.float32)
        high = torch.floor(halves / 16)
        low = halves - high * 16
        levels = torch.cat([low, high], dim=-1) - LEVELS
        blocks = levels.reshape(flat.shape[0], scales.shape[1], BLOCK)
        values = blocks * torch.index_select(scales, 0, flat).unsqueeze(-1)
        return values.reshape(input_ids.shape[0], input_ids.shape[1], -1)


@contextmanager
def packed_word_embeddings(transformer: torch.nn.Module) -> Iterator[bool]:
    """Swap the transformer's word-embedding table for its packed form while inside; yields whether it did.

    The swap is undone on the way out, so the live PyTorch model is left as it was.
    """
    embeddings = getattr(transformer, "embeddings", None)
    original = getattr(embeddings, "word_embeddings", None)
    result = pack(original.weight) if isinstance(original, torch.nn.Embedding) else None
    if embeddings is None or result is None:
        yield False
        return
    embeddings.word_embeddings = PackedEmbedding(*result)
    try:
        yield True
    finally:
        embeddings.word_embeddings = original
