"""Command line: ``python -m knowledge_base build-model|search|eval|fine-tune``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = ROOT / "models" / "embeddings" / "multilingual-e5-small-q4"


def _eval(args: argparse.Namespace) -> int:
    """Build a throwaway knowledge base from --kb and score --queries (never touches the database)."""
    from knowledge_base.embeddings import Embedder
    from knowledge_base.evaluation import (
        calibrate,
        choose_weights,
        collect,
        load_kb_jsonl,
        load_questions,
        metrics,
        rank_all,
        ranked_under,
    )
    from knowledge_base.optimise import default_epochs, fine_tune
    from knowledge_base.search import KnowledgeBase, Thresholds

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    articles = load_kb_jsonl(args.kb)
    questions = load_questions(args.queries)
    # query_cache=0: the latency figures time the encoder on every question
    embedder = Embedder(args.model, query_cache=0, int8=not args.no_int8)
    say(f"{len(articles.by_key)} articles, {len(questions)} questions")
    scratch = tempfile.TemporaryDirectory(prefix="kb-eval-")
    epochs = args.epochs or default_epochs(articles)
    if not args.no_optimise:
        started = time.perf_counter()
        fine_tune(
            embedder,
            articles,
            None,
            epochs=epochs,
            on_epoch=lambda e, loss: say(f"  fine-tune epoch {e}/{epochs}: loss {loss:.1f}"),
        )
        say(f"fine-tuned in {time.perf_counter() - started:.0f}s")
        embedder.accelerate(Path(scratch.name) / "onnx")  # the fine-tuned weights, not the base model's export
    kb = KnowledgeBase(embedder)
    kb.load(articles, progress=sys.stderr.isatty())
    thresholds = Thresholds()
    choice: dict[str, object] = {}
    if args.calibrate:
        collected = collect(kb, load_questions(args.calibrate))
        kb.weights, choice = choose_weights(collected)
        thresholds = calibrate(ranked_under(collected, kb.weights))
        say(f"calibrated on {args.calibrate}: {kb.weights} (top-1 {choice['top1']:.3f}), {thresholds}")
    result = metrics(rank_all(kb, questions), thresholds)
    result["optimised"] = not args.no_optimise
    if not args.no_optimise:
        result["epochs"] = epochs
    result["weights"] = asdict(kb.weights)
    if choice:
        result["weights_choice"] = choice  # the best pair tried, and whether it cleared the bar
    result["encoder"] = embedder.backend
    scratch.cleanup()
    args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    keys = ("top1", "mrr5", "in_scope_accuracy", "oos_recall", "oos_precision")
    say("  ".join(f"{k} {result[k]:.3f}" for k in keys if k in result) + f"  latency {result['latency_ms']}")
    return 0


def _fine_tune(args: argparse.Namespace) -> int:
    """Make a fine-tuned model folder from --kb; with --report, one JSON event per stdout line.

    This is what the optimise job runs as a child process. ``--exit-with-stdin``
    ends it when its standard input closes: the worker that started it died or
    cancelled, and nobody would adopt the model.
    """
    from knowledge_base.evaluation import load_kb_jsonl
    from knowledge_base.optimise import default_epochs, optimised_model

    if args.nice:
        os.nice(args.nice)  # searches in the web worker come first
    if args.exit_with_stdin:

        def watch() -> None:
            # the file descriptor, not sys.stdin: a thread blocked in the buffered reader
            # holds its lock, and the interpreter aborts on it at exit
            while os.read(0, 4096):
                pass
            os._exit(3)

        threading.Thread(target=watch, name="stdin-watch", daemon=True).start()

    def report(event: dict[str, object]) -> None:
        if args.report:
            print(json.dumps(event, ensure_ascii=False), flush=True)
        else:
            print("  ".join(f"{k} {v}" for k, v in event.items()), file=sys.stderr, flush=True)

    if args.target.exists():
        print(f"error: {args.target} exists; name a new folder", file=sys.stderr)
        return 2
    if args.epochs is not None and args.epochs < 1:
        print("error: --epochs must be at least 1", file=sys.stderr)
        return 2
    try:
        articles = load_kb_jsonl(args.kb)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    epochs = args.epochs or default_epochs(articles)
    try:
        backend = optimised_model(
            args.model, articles, args.target, epochs, int8=not args.no_int8, seed=args.seed, report=report
        )
    except ValueError as exc:  # too few articles with phrasings
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report({"phase": "done", "model": str(args.target), "encoder": backend, "epochs": epochs})
    return 0


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
    ev = sub.add_parser("eval", help="evaluate search on a labelled set (shared/eval/FORMAT.md)")
    ev.add_argument("--kb", type=Path, required=True, help="kb.jsonl: the articles")
    ev.add_argument("--queries", type=Path, required=True, help="questions to answer and score")
    ev.add_argument("--calibrate", type=Path, help="questions to calibrate the thresholds on first")
    ev.add_argument("--json", type=Path, required=True, help="where to write the results")
    ev.add_argument("--model", default=str(DEFAULT_MODEL_DIR))
    ev.add_argument(
        "--epochs",
        type=int,
        help="fine-tuning epochs on the articles' phrasings (default: enough for about 100 steps, 3 to 10)",
    )
    ev.add_argument("--no-optimise", action="store_true", help="search with the model as it is")
    ev.add_argument("--no-int8", action="store_true", help="encode with float matrix products (KB_ENCODER_INT8=false)")
    tune = sub.add_parser("fine-tune", help="fine-tune the embedding model on kb.jsonl's phrasings into a new folder")
    tune.add_argument("--kb", type=Path, required=True, help="kb.jsonl: the articles and their alternative questions")
    tune.add_argument("--target", type=Path, required=True, help="the new model folder (must not exist)")
    tune.add_argument("--model", default=str(DEFAULT_MODEL_DIR), help="the base model")
    tune.add_argument("--epochs", type=int, help="default: enough for about 100 steps, 3 to 10")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--no-int8", action="store_true", help="do not make the 8-bit encoder copy")
    tune.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority by N")
    tune.add_argument("--report", action="store_true", help="JSON events on stdout, one per line")
    tune.add_argument("--exit-with-stdin", action="store_true", help="stop when standard input closes")
    args = parser.parse_args(argv)

    if args.command == "eval":
        return _eval(args)
    if args.command == "fine-tune":
        return _fine_tune(args)
    if args.command == "build-model":
        from knowledge_base.embeddings import Embedder
        from knowledge_base.model_build import build as build_model

        path = build_model(args.target, force=args.force)
        backend = Embedder(path).backend  # exports the encoder (and its 8-bit copy) once: the app starts without it
        print(f"embedding model ready at {path} (encoder: {backend})")
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
