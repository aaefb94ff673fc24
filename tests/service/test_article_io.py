"""Import and export of articles: Markdown folders both ways, and the evaluation format's kb.jsonl.

The CLI runs as a subprocess (``python -m webhook ...``) against the test database,
SQLite and, with TEST_POSTGRES_URL, PostgreSQL. The file format alone is tested in
tests/unit/test_article_io.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import frontmatter
import pytest
from sqlalchemy import select

from knowledge_base.articles import Article, load_markdown_dir, parse_markdown
from knowledge_base.evaluation import load_kb_jsonl
from tests.conftest import DEMO, ROOT
from webhook.store import articles as repo
from webhook.store.schema import ArticleVersion


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "webhook", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def fields(article: Article) -> tuple:
    return (article.key, article.lang, article.title, article.body, article.questions, article.tags)


async def _save(db, key, lang, title, body="Body.", publish=False, questions=(), tags=()):
    async with db.session() as s:
        await repo.save(s, key, lang, title=title, body=body, questions=questions, tags=tags, publish=publish)
        await s.commit()


# -- Markdown folders ----------------------------------------------------------------
async def test_the_demo_folder_round_trips_through_the_database(db, database_url, tmp_path: Path):
    done = cli(database_url, "import-articles", str(DEMO))
    assert done.returncode == 0, done.stderr
    demo = load_markdown_dir(DEMO)
    assert f"{len(demo)} created, 0 updated, 0 unchanged" in done.stdout
    assert "next start" in done.stdout  # the running service's index is refreshed when it restarts

    out = tmp_path / "export"
    done = cli(database_url, "export-articles", str(out))
    assert done.returncode == 0, done.stderr
    assert f"exported {len(demo)} article translations" in done.stdout

    # the same layout as the demo folder, and every field equal, in order
    assert sorted(p.relative_to(out) for p in out.rglob("*.md")) == sorted(
        p.relative_to(DEMO) for p in DEMO.rglob("*.md")
    )
    exported = load_markdown_dir(out)
    assert [fields(a) for a in exported] == [fields(a) for a in demo]
    for original in demo:
        path = out / original.key / f"{original.lang}.md"
        raw = path.read_bytes()
        # Persian and Arabic text is written as itself (UTF-8), not escaped, and read back byte for byte
        assert original.title.encode() in raw and original.body.encode() in raw, path
        again = parse_markdown(path)
        assert again.title.encode() == original.title.encode() and again.body.encode() == original.body.encode()
        assert again.questions == original.questions and again.tags == original.tags

    # and importing the export changes nothing in the database
    done = cli(database_url, "import-articles", str(out))
    assert done.returncode == 0, done.stderr
    assert f"0 created, 0 updated, {len(demo)} unchanged" in done.stdout
    async with db.session() as s:
        stored = await repo.published_articles(s)
    assert [fields(a) for a in stored] == [fields(a) for a in demo]
    assert {a.version for a in stored} == {1}


async def test_drafts_are_exported_only_with_status_all(db, database_url, tmp_path: Path):
    await _save(db, "returns", "en", "Live title", "Live body.", publish=True, questions=["q live"])
    await _save(db, "returns", "en", "Draft title", "Draft body.", questions=["q draft"])  # v2, a draft
    await _save(db, "returns", "fa", "پیش‌نویس", "فقط پیش‌نویس.")  # never published
    await _save(db, "old", "en", "Archived", "Gone.", publish=True)
    async with db.session() as s:
        await repo.archive(s, "old", "en")
        await s.commit()

    published = tmp_path / "published"
    done = cli(database_url, "export-articles", str(published))
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(published).as_posix() for p in published.rglob("*.md")) == ["returns/en.md"]
    live = parse_markdown(published / "returns" / "en.md")
    assert (live.title, live.body, live.questions) == ("Live title", "Live body.", ("q live",))
    assert "status" not in frontmatter.load(str(published / "returns" / "en.md")).metadata

    everything = tmp_path / "all"
    done = cli(database_url, "export-articles", str(everything), "--status", "all")
    assert done.returncode == 0, done.stderr
    meta = {p.relative_to(everything).as_posix(): frontmatter.load(str(p)).metadata for p in everything.rglob("*.md")}
    assert {name: (m["status"], m["version"]) for name, m in meta.items()} == {
        "returns/en.md": ("draft", 2),
        "returns/fa.md": ("draft", 1),
        "old/en.md": ("archived", 1),
    }
    loaded = load_markdown_dir(everything)  # the loader accepts the extra keys
    assert loaded.by_key["returns"]["en"].title == "Draft title"
    assert loaded.by_key["returns"]["fa"].body == "فقط پیش‌نویس."


async def test_export_refuses_a_folder_that_is_not_empty_unless_told(db, database_url, tmp_path: Path):
    await _save(db, "returns", "en", "New title", publish=True)
    out = tmp_path / "out"
    (out / "returns").mkdir(parents=True)
    (out / "returns" / "en.md").write_text("mine")
    (out / "notes.txt").write_text("keep me")

    done = cli(database_url, "export-articles", str(out))
    assert done.returncode == 1
    assert "not empty" in done.stderr and "--overwrite" in done.stderr
    assert (out / "returns" / "en.md").read_text() == "mine"

    done = cli(database_url, "export-articles", str(out), "--overwrite")
    assert done.returncode == 0, done.stderr
    assert parse_markdown(out / "returns" / "en.md").title == "New title"
    assert (out / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("key", ["../escaped", "a/b", ".hidden"])
async def test_export_refuses_a_key_that_is_not_a_safe_folder_name(db, database_url, tmp_path: Path, key: str):
    # keys are checked on input; one that got into the database some other way is still refused here
    await _save(db, "fine", "en", "Fine", publish=True)
    await _save(db, key, "en", "Unsafe", publish=True)
    out = tmp_path / "inside" / "out"
    done = cli(database_url, "export-articles", str(out))
    assert done.returncode == 1
    assert "cannot export key" in done.stderr and repr(key) in done.stderr
    assert not (tmp_path / "inside" / "escaped").exists()
    assert not out.exists() or not any(out.rglob("*"))  # nothing written, not even the safe article


# -- kb.jsonl ------------------------------------------------------------------------
# Written from shared/eval/FORMAT.md: one article per line, id, title, examples; an optional body
# (and the lang and tags the product's reader also accepts).
KB = [
    {
        "id": "activate_my_card",
        "title": "Activate my card",
        "examples": ["How do I activate my card?", "card activation"],
    },
    {
        "id": "activate_my_card",
        "title": "تفعيل بطاقتي",
        "examples": ["بدي مساعدة عشان أفعل بطاقتي", "كيف أفعل بطاقتي؟"],
    },
    {
        "id": "reverted_card_payment?",
        "title": "پرداخت برگشتی",
        "examples": ["پرداختم برگشت خورد", "چرا پولم برگشت؟"],
        "body": "پرداخت شما **لغو** شد.",
        "lang": "fa",
        "tags": ["cards", "payments"],
    },
]


def _write_kb(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


async def test_a_kb_jsonl_file_is_imported_as_versions_and_read_as_eval_reads_it(db, database_url, tmp_path: Path):
    kb = _write_kb(tmp_path / "kb.jsonl", KB)
    done = cli(database_url, "import-articles", "--kb", str(kb))
    assert done.returncode == 0, done.stderr
    assert "3 created, 0 updated, 0 unchanged" in done.stdout
    assert "next start" in done.stdout

    async with db.session() as s:
        stored = await repo.published_articles(s)
        history = list(await s.scalars(select(ArticleVersion)))
    assert sorted(map(fields, stored)) == sorted(map(fields, load_kb_jsonl(kb)))  # as the eval command reads it
    card = stored.by_key["activate_my_card"]
    assert set(card) == {"en", "ar"}  # the language detected when the line has none
    assert card["en"].questions == ("How do I activate my card?", "card activation") and card["en"].body == ""
    reverted = stored.by_key["reverted_card_payment?"]["fa"]
    assert (reverted.body, reverted.tags) == ("پرداخت شما **لغو** شد.", ("cards", "payments"))
    assert {(row.author, row.note) for row in history} == {("import", "import kb.jsonl")}

    # a second import: one changed article becomes a draft version; the live one stays
    KB_CHANGED = [dict(KB[0], examples=["activate card"]), KB[1], KB[2]]
    done = cli(database_url, "import-articles", "--kb", str(_write_kb(kb, KB_CHANGED)), "--draft")
    assert done.returncode == 0, done.stderr
    assert "0 created, 1 updated, 2 unchanged" in done.stdout
    async with db.session() as s:
        head = await repo.get(s, "activate_my_card", "en")
        live = await repo.live_article(s, "activate_my_card", "en")
        assert (head.version, head.status, head.questions) == (2, "draft", ["activate card"])
        assert live.version == 1 and live.questions == ("How do I activate my card?", "card activation")

        # publishing the same content again makes the draft live without another version
        counts = await repo.import_articles(s, load_kb_jsonl(kb), publish=True, note="import kb.jsonl")
        await s.commit()
        assert counts == repo.ImportCounts(published=1, unchanged=2)
        assert (await repo.live_article(s, "activate_my_card", "en")).version == 2


BAD_LINES = {
    "not JSON": ('{"id": "x", "title": "broken"', "not a kb.jsonl article"),
    "no title": ('{"id": "x", "examples": ["q"]}', "'title'"),
    "examples not a list": ('{"id": "x", "title": "T", "examples": "q"}', "examples must be a list"),
    "unsafe id": ('{"id": "../x", "title": "T", "examples": ["q"]}', "must not contain"),
    "duplicate": (json.dumps(KB[0]), "already on line 1"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
async def test_a_malformed_kb_jsonl_names_its_line_and_imports_nothing(db, database_url, tmp_path: Path, case):
    bad, message = BAD_LINES[case]
    kb = tmp_path / "kb.jsonl"
    kb.write_text("\n".join([json.dumps(KB[0]), json.dumps(KB[2], ensure_ascii=False), "", bad]) + "\n")
    done = cli(database_url, "import-articles", "--kb", str(kb))
    assert done.returncode == 1, done.stdout
    assert "kb.jsonl:4:" in done.stderr and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    async with db.session() as s:
        assert await repo.list_articles(s) == []
