"""Sentence embeddings with the query/passage prompts the model was trained with.

The model is loaded with sentence-transformers (which fine-tuning needs), and the
encoding itself runs in ONNX Runtime when it can: the transformer, mean pooling and
normalisation exported as one graph. The vectors are PyTorch's (``tests/test_embeddings.py``
checks them) and a question is encoded faster, which matters because encoding is most
of a search's time (docs/benchmarks.md has the figures). Once the ONNX session is up,
the PyTorch copy of the weights is let go, so that a worker does not hold the model
twice, and loaded again only if something asks for ``Embedder.model`` (fine-tuning does).
Large batches (an index build) run in ONNX Runtime too, in batches capped by a
token budget, and its memory arena is shrunk after each of them, so a rebuild does
not leave gigabytes of activations behind. The export is made once per
model and kept beside it (``<model>/onnx/``, or ``models/onnx/<name>`` for a hub
model), stamped with the weights it came from; a model without a usable export,
or an environment without ONNX Runtime, encodes with PyTorch.

The session runs a copy of the export whose matrix products use 8-bit weights in
blocks of 32 and 8-bit activations (ONNX Runtime's ``MatMulNBits``), which takes less
time per question and less memory (docs/benchmarks.md, seventh session). The default
model's weights are 4-bit in blocks of 32 already, so for it the 8-bit weights are
exact; fine-tuning ends by rounding its weights to the 8-bit grid
(``round_to_int8_grid``), so a fine-tuned model's are exact too. Each copy is
checked against the float export on ``PROBES`` before it is used, and kept beside
it; one that disagrees is not used (``int8=False`` turns the copy off).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import shutil
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm.auto import tqdm

from knowledge_base.packed_table import packed_word_embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
HUB_EXPORTS = ROOT / "models" / "onnx"
EXPORT_FORMAT = 2  # bump when the exported graph changes (2: the word-embedding table packed in 4 bits)
BATCH_SIZE = 32
ONNX_TOKEN_BUDGET = 4096  # texts x padded length per ONNX call: bounds the activations of a batch of long bodies
ONNX_SHRINK_ABOVE = 8  # calls with more texts than this give their arena memory back afterwards
QUERY_CACHE_SIZE = 2048  # recent single questions kept encoded (about 1.5 KB each at 384 dimensions)
INT8_FILE = "model.int8.onnx"
INT8_REJECTED = "INT8-REJECTED"
INT8_MIN_COSINE = 0.999  # the 8-bit copy's vectors against the float export's, on every probe
INT8_BLOCK = 32  # weights per scale in the 8-bit copy, along a matrix product's input dimension
PROBES = [  # what the 8-bit copy is checked on: questions and passages in the three languages
    "query: how do I reset my card pin",
    "query: my top-up of 20 EUR via SEPA is still pending",
    "query: چطور رمز کارتم را عوض کنم؟",
    "query: لم يصلني المبلغ المسترد بعد",
    "query: ما بدي البطاقة، كيف بلغيها؟",
    "query: ORD-55821 tracking says delivered but nothing arrived",
    "passage: Refunds reach your account within 5 to 10 working days of the return being accepted. "
    "If you paid by card, the money goes back to that card; gift cards are refunded as store credit.",
    "passage: برای تغییر رمز کارت، در برنامه به بخش کارت‌ها بروید و «تغییر رمز» را بزنید.",
    "passage: يمكنك تتبع طلبك من صفحة الطلبات. إذا لم يصل خلال سبعة أيام، تواصل معنا.",
]


def _weights_stamp(model: torch.nn.Module, name: str) -> str:
    """Identifies the weights by an evenly spread sample of each tensor's exact values.

    Cheap (no pass over all 100 M+ values) and deterministic; training changes
    nearly every value of a trained tensor, so it changes the sample too.
    """
    digest = hashlib.sha256(f"{EXPORT_FORMAT}:{name}".encode())
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if key.startswith("pooler."):
                continue  # BERT's pooler is unused by mean pooling, and randomly initialised when absent
            flat = tensor.detach().reshape(-1)
            digest.update(key.encode())
            digest.update(flat[:: max(1, flat.numel() // 4096)].cpu().numpy().tobytes())
    return digest.hexdigest()[:24]


def round_to_int8_grid(model: torch.nn.Module) -> int:
    """Round every linear layer's weights to the 8-bit copy's grid, in place; returns how many.

    The grid is ONNX Runtime's symmetric 8-bit blockwise one: in each block of
    ``INT8_BLOCK`` weights along the input dimension, the scale is the block's
    largest-magnitude weight divided by -128, and each weight is a whole multiple
    of it in [-128, 127]. Weights already on it are quantised exactly, so the 8-bit
    copy of the export computes what the float export does (up to its 8-bit
    activations) and passes the check. Fine-tuning ends here: its weights leave the
    base model's 4-bit grid and, rounded only when the copy is made, the errors of
    its 72 matrices add up to vectors that fail the check (docs/benchmarks.md, seventh session).
    """
    rounded = 0
    with torch.no_grad():
        for name, layer in model.named_modules():
            if not isinstance(layer, torch.nn.Linear) or "pooler" in name:
                continue
            rows, columns = layer.weight.shape  # (out, in): a block is a run of one row
            if columns % INT8_BLOCK:
                continue
            blocks = layer.weight.reshape(rows, columns // INT8_BLOCK, INT8_BLOCK)
            extreme = blocks.gather(-1, blocks.abs().argmax(-1, keepdim=True))
            scale = extreme / -128.0
            safe = torch.where(scale == 0, torch.ones_like(scale), scale)
            levels = torch.clamp(torch.round(blocks / safe), -128, 127)
            layer.weight.copy_((levels * scale).reshape(rows, columns))
            rounded += 1
    return rounded


class PooledEncoder(torch.nn.Module):
    """The transformer with mean pooling and L2 normalisation: the graph that is exported."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, dim=-1)


class Embedder:
    """Wraps a sentence-transformers model; vectors are L2-normalised float32.

    e5 models expect ``query: `` and ``passage: `` prefixes; they are taken from
    the model folder's own prompt configuration, so a model without prompts
    (all-MiniLM) simply gets none.
    """

    def __init__(
        self,
        model: str | Path,
        device: str = "cpu",
        onnx: bool = True,
        threads: int = 0,
        query_cache: int = QUERY_CACHE_SIZE,
        int8: bool = True,
    ) -> None:
        self.name = str(model)
        self.int8 = int8  # 8-bit matrix products in the ONNX session, when they agree with the float export
        self.weights = "pytorch"  # what encodes: "pytorch", "float" or "int8" (the last two in ONNX Runtime)
        self.query_cache = query_cache  # questions kept encoded; 0 for benchmarks, which must time the encoder
        self.device = device
        self._model: SentenceTransformer | None = None
        loaded = self.model
        dimension = getattr(loaded, "get_embedding_dimension", None) or loaded.get_sentence_embedding_dimension
        self.dimension = int(dimension() or 0)
        prompts = getattr(loaded, "prompts", {}) or {}
        self._prompts = {name: prompts[name] for name in ("query", "passage") if name in prompts}
        self.tokenizer = loaded.tokenizer
        self.max_tokens = int(getattr(loaded, "max_seq_length", 512) or 512)
        self._session: Any = None
        self._shrink: Any = None
        # recent questions' vectors, for the current ONNX session only (its weights are fixed);
        # a plain LRU under a lock: searches arrive on worker threads
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = threading.Lock()
        self.threads = threads  # ONNX Runtime intra-op threads; 0 = one per core
        if onnx and device == "cpu" and self.accelerate():
            del loaded, dimension  # (the bound method holds the model too)
            self._model = None  # the session has its own copy of the weights; PyTorch's comes back on demand
            gc.collect()

    @property
    def model(self) -> SentenceTransformer:
        """The sentence-transformers model, loaded from ``name`` again if it was let go."""
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.name, device=self.device)
        return self._model

    # -- ONNX Runtime -------------------------------------------------------------------
    @property
    def accelerated(self) -> bool:
        return self._session is not None

    @property
    def backend(self) -> str:
        """What encodes, for reports: ``onnxruntime-int8``, ``onnxruntime`` or ``pytorch``."""
        return {"int8": "onnxruntime-int8", "float": "onnxruntime"}.get(self.weights, "pytorch")

    def _export_dir(self) -> Path:
        local = Path(self.name)
        if local.is_dir() and os.access(local, os.W_OK):
            return local / "onnx"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in self.name)
        return HUB_EXPORTS / safe

    def _pooled_transformer(self) -> torch.nn.Module | None:
        first = self.model[0]
        transformer = getattr(first, "auto_model", None)
        pooling = self.model[1] if len(self.model) > 1 else None
        mean = getattr(pooling, "pooling_mode_mean_tokens", False) or getattr(pooling, "pooling_mode", "") == "mean"
        if transformer is None or not mean:
            return None  # only mean-pooled models are exported; others keep PyTorch
        return transformer

    def accelerate(self, folder: Path | None = None) -> bool:
        """Use ONNX Runtime for the current weights, exporting them first when needed.

        Call it again after the weights change in memory (fine-tuning), with a
        ``folder`` of its own so that the base model's export is left alone.
        Returns whether ONNX Runtime is in use.
        """
        self._session = None
        self.weights = "pytorch"
        with self._queries_lock:
            self._queries.clear()
        transformer = self._pooled_transformer()
        if transformer is None:
            return False
        try:
            import onnxruntime as ort
        except ImportError:
            log.info("onnxruntime is not installed: encoding with PyTorch")
            return False
        try:
            local = Path(self.name)  # a folder named relatively or absolutely is one model, with one export
            stamp = _weights_stamp(transformer, str(local.resolve()) if local.is_dir() else self.name)
            folder = folder or self._export_dir()
            path = folder / "model.onnx"
            stamp_file = folder / "STAMP"
            if not (path.exists() and stamp_file.exists() and stamp_file.read_text().strip() == stamp):
                self._export(transformer, folder, stamp)
            quantised = self._int8_copy(folder) if self.int8 else None
            self._session = self._open(quantised or path)
            self.weights = "int8" if quantised else "float"
            self._shrink = ort.RunOptions()
            self._shrink.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        except Exception:
            log.warning("could not use ONNX Runtime for %s; encoding with PyTorch", self.name, exc_info=True)
            self._session = None
            self.weights = "pytorch"
        return self._session is not None

    def _open(self, path: Path) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _int8_copy(self, folder: Path) -> Path | None:
        """The export with 8-bit blockwise matrix products, made and checked once per export.

        None when the copy disagrees with the float export on ``PROBES`` (it is then
        not tried again for these weights) or cannot be made: the float export serves.
        """
        target, rejected = folder / INT8_FILE, folder / INT8_REJECTED
        if target.exists():
            return target
        if rejected.exists():
            return None
        tmp = folder / f"model.int8.tmp{os.getpid()}.onnx"
        try:
            import onnx

            root = logging.getLogger()
            guard = logging.NullHandler()  # the quantiser module calls logging.basicConfig on import
            root.addHandler(guard)
            try:
                from onnxruntime.quantization.matmul_nbits_quantizer import (
                    DefaultWeightOnlyQuantConfig,
                    MatMulNBitsQuantizer,
                )
            finally:
                root.removeHandler(guard)
            logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)
            shape = {"bits": 8, "block_size": INT8_BLOCK, "is_symmetric": True, "accuracy_level": 4}
            quantiser = MatMulNBitsQuantizer(
                str(folder / "model.onnx"), algo_config=DefaultWeightOnlyQuantConfig(**shape), **shape
            )
            quantiser.process()
            onnx.save(quantiser.model.model, str(tmp))
            del quantiser
            agreement = self._agreement(self._open(folder / "model.onnx"), self._open(tmp))
        except Exception:
            log.warning("could not make the 8-bit encoder for %s; it stays in float", self.name, exc_info=True)
            tmp.unlink(missing_ok=True)  # a half-made copy would only take disk space
            return None
        if agreement < INT8_MIN_COSINE:
            tmp.unlink(missing_ok=True)
            rejected.write_text(f"{agreement:.6f}\n")
            log.warning(
                "the 8-bit encoder for %s disagrees with the float one (cosine %.5f); float it is", self.name, agreement
            )
            return None
        os.replace(tmp, target)
        log.info("8-bit encoder for %s made (cosine with float >= %.5f on the probes)", self.name, agreement)
        return target

    def _agreement(self, reference: Any, candidate: Any) -> float:
        """The lowest cosine between two sessions' vectors over ``PROBES``."""
        lowest = 1.0
        for text in PROBES:
            batch = self.tokenizer([text], truncation=True, max_length=self.max_tokens, return_tensors="np")
            feeds = {name: batch[name].astype(np.int64) for name in ("input_ids", "attention_mask")}
            a, b = reference.run(None, feeds)[0][0], candidate.run(None, feeds)[0][0]
            lowest = min(lowest, float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
        return lowest

    def _export(self, transformer: torch.nn.Module, folder: Path, stamp: str) -> None:
        log.info("exporting %s to ONNX (once per model)", self.name)
        tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        features = self.tokenizer(["query: an example"], return_tensors="pt")
        pooled = PooledEncoder(transformer).eval()
        with torch.no_grad(), packed_word_embeddings(transformer) as packed:
            if packed:
                log.info("the word-embedding table is on a 4-bit grid: exported packed, exactly")
            torch.onnx.export(
                pooled,
                (features["input_ids"], features["attention_mask"]),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "tokens"},
                    "attention_mask": {0: "batch", 1: "tokens"},
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        (tmp / "STAMP").write_text(stamp + "\n")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)

    def _onnx_batches(self, texts: list[str]) -> Iterator[list[int]]:
        """Indices of similar-length texts, at most ``BATCH_SIZE`` texts and ``ONNX_TOKEN_BUDGET`` tokens a call."""
        if len(texts) == 1:
            yield [0]
            return
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)["input_ids"]
        lengths = [len(x) for x in ids]
        batch: list[int] = []
        for i in np.argsort([-n for n in lengths], kind="stable"):
            # longest first, so a batch's first text sets its padded length
            if batch and (len(batch) == BATCH_SIZE or lengths[batch[0]] * (len(batch) + 1) > ONNX_TOKEN_BUDGET):
                yield batch
                batch = []
            batch.append(int(i))
        if batch:
            yield batch

    def _encode_onnx(self, texts: list[str], prefix: str, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        shrink = self._shrink if len(texts) > ONNX_SHRINK_ABOVE else None
        bar = tqdm(total=len(texts), desc="Encoding", unit="text", disable=not progress)
        for chosen in self._onnx_batches([prefix + t for t in texts]):
            batch = self.tokenizer(
                [prefix + texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors="np",
            )
            feeds = {
                "input_ids": batch["input_ids"].astype(np.int64),
                "attention_mask": batch["attention_mask"].astype(np.int64),
            }
            out[chosen] = self._session.run(None, feeds, shrink)[0]
            bar.update(len(chosen))
        bar.close()
        return out

    def _encode_query_cached(self, text: str) -> np.ndarray:
        with self._queries_lock:
            vector = self._queries.get(text)
            if vector is not None:
                self._queries.move_to_end(text)
                return vector.copy()
        session = self._session
        vector = self._encode_onnx([text], self._prompts.get("query", ""))[0]
        with self._queries_lock:
            if session is self._session:  # not re-accelerated meanwhile (new weights)
                self._queries[text] = vector.copy()
                while len(self._queries) > self.query_cache:
                    self._queries.popitem(last=False)
        return vector

    # -- encoding -----------------------------------------------------------------------
    def encode_queries(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed customer questions (and alternative phrasings, which are questions too)."""
        return self._encode(texts, "query", progress)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed article bodies."""
        return self._encode(texts, "passage", progress)

    def _encode(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if prompt == "query" and len(texts) == 1 and self._session is not None and self.query_cache > 0:
            # Customers ask the same few questions again and again (and the quick-reply
            # buttons send identical text): a repeat costs a dictionary look-up instead
            # of the encoder, which is most of a search's time. Only with ONNX Runtime,
            # whose weights cannot change under the cache (fine-tuning runs in PyTorch).
            return self._encode_query_cached(texts[0])[None, :]
        if self._session is not None:
            return self._encode_onnx(texts, self._prompts.get(prompt, ""), progress)
        vectors = self.model.encode(
            texts,
            prompt_name=prompt if prompt in self._prompts else None,
            batch_size=BATCH_SIZE,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)
