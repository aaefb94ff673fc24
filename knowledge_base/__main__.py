"""Command line: ``python -m knowledge_base build-model|search``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge_base")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-model", help="assemble the offline multilingual embedding model")
    build.add_argument("--target", type=Path, default=DEFAULT_MODEL_DIR)
    build.add_argument("--force", action="store_true")
    search = sub.add_parser("search", help="search a folder of Markdown articles")
    search.add_argument("query")
    search.add_argument("--articles", type=Path, default=ROOT / "knowledge_base" / "demo")
    search.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    search.add_argument("--lang")
    args = parser.parse_args(argv)

    if args.command == "build-model":
        from knowledge_base.model_build import build as build_model

        path = build_model(args.target, force=args.force)
        print(f"embedding model ready at {path}")
        return 0

    from knowledge_base.articles import load_markdown_dir
    from knowledge_base.embeddings import Embedder
    from knowledge_base.search import KnowledgeBase

    kb = KnowledgeBase(Embedder(args.model))
    kb.load(load_markdown_dir(args.articles))
    result = kb.search(args.query, args.lang)
    print(
        json.dumps(
            {
                "decision": result.decision,
                "lang": result.lang,
                "candidates": [
                    {"key": h.key, "lang": h.lang, "title": h.title, "score": round(h.score, 4)} for h in result.hits
                ],
                "elapsed_ms": round(result.elapsed_ms, 1),
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
