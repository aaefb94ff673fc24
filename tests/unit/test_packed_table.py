"""The word-embedding table packed in 4 bits gives back every value exactly, or is not packed."""

import torch

from knowledge_base import packed_table
from knowledge_base.packed_table import BLOCK, PackedEmbedding, pack, packed_word_embeddings


def _q4_table(rows: int, columns: int, seed: int = 0) -> torch.Tensor:
    """A table the way ``model_build`` makes one: whole levels in [-8, 7] times a float16 scale per block."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(-8, 8, (rows, columns // BLOCK, BLOCK), generator=generator).float()
    scales = (torch.randn(rows, columns // BLOCK, 1, generator=generator) * 0.02).half().float()  # either sign
    return (levels * scales).reshape(rows, columns)


def test_a_4bit_table_is_packed_and_unpacked_exactly():
    table = _q4_table(300, 128)
    table[7, :BLOCK] = 0.0  # an all-zero block
    table[8, :BLOCK] = torch.tensor([0.5] + [0.0] * (BLOCK - 1))  # a lone positive extreme: level -8, negative scale
    packed, scales = pack(table)
    assert packed.dtype == torch.uint8 and packed.shape == (300, 64)
    assert scales.shape == (300, 128 // BLOCK)
    ids = torch.tensor([[0, 7, 8, 299], [5, 5, 1, 2]])
    assert torch.equal(PackedEmbedding(packed, scales)(ids), table[ids])
    everything = torch.arange(300).reshape(-1, 1)
    assert torch.equal(PackedEmbedding(packed, scales)(everything).squeeze(1), table)


def test_a_table_is_packed_a_chunk_of_rows_at_a_time_with_the_same_result(monkeypatch):
    table = _q4_table(2500, 128, seed=3)
    whole = pack(table)
    monkeypatch.setattr(packed_table, "SAMPLE_ROWS", 100)
    monkeypatch.setattr(packed_table, "CHUNK_ROWS", 700)  # chunks of 100, 700, 700, 700 and 300 rows
    chunked = pack(table)
    assert whole is not None and chunked is not None
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])
    assert torch.equal(PackedEmbedding(*chunked)(torch.arange(2500).reshape(-1, 1)).squeeze(1), table)


def test_a_table_off_the_grid_is_not_packed():
    assert pack(torch.randn(50, 128)) is None  # a float table (a hub model's)
    table = _q4_table(2000, 128)
    table[1500, 3] += 1e-4  # one value off the grid, past the rows tried first
    assert pack(table) is None
    assert pack(_q4_table(10, 96)) is None  # a row that does not split into two halves of whole blocks


def test_the_table_is_swapped_only_while_exporting():
    transformer = torch.nn.Module()
    transformer.embeddings = torch.nn.Module()
    original = torch.nn.Embedding.from_pretrained(_q4_table(40, 64))
    transformer.embeddings.word_embeddings = original
    with packed_word_embeddings(transformer) as packed:
        assert packed and isinstance(transformer.embeddings.word_embeddings, PackedEmbedding)
    assert transformer.embeddings.word_embeddings is original
    transformer.embeddings.word_embeddings = torch.nn.Embedding(40, 64)  # random floats
    with packed_word_embeddings(transformer) as packed:
        assert not packed and isinstance(transformer.embeddings.word_embeddings, torch.nn.Embedding)
