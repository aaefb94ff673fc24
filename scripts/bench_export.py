"""Time and memory of exporting the encoder to ONNX, as a process does the first time it meets a model.

    .venv/bin/python scripts/bench_export.py [--model models/embeddings/multilingual-e5-small-q4]

Removes the model's export (``onnx/`` inside the model folder; the next start makes it
again), starts an ``Embedder``, which exports, quantises and checks the 8-bit copy, and
encodes one question. Prints one JSON object: the wall time, the process's peak and
current resident memory, and the export's size and MD5, so that two codes can be shown
to write the same file. Run it in a process of its own: the peak is the process's.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge_base.embeddings import Embedder  # noqa: E402


def resident_mb() -> float:
    """Resident memory now (``ru_maxrss`` only gives the peak)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "embeddings" / "multilingual-e5-small-q4")
    args = parser.parse_args()
    export = args.model / "onnx"
    shutil.rmtree(export, ignore_errors=True)
    started = time.perf_counter()
    embedder = Embedder(str(args.model))
    embedder.encode_queries(["how do I reset my password"])
    seconds = time.perf_counter() - started
    gc.collect()
    onnx_file = export / "model.onnx"
    report = {
        "encoder": embedder.backend,
        "export_and_load_s": round(seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_mb": round(resident_mb()),
        "onnx_bytes": onnx_file.stat().st_size,
        "onnx_md5": hashlib.md5(onnx_file.read_bytes()).hexdigest(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
