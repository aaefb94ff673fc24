"""The docs say what the code does (as Datasette's tests check its docs).

Every setting in :class:`webhook.settings.Settings` is in ``.env.example`` and in the
README's configuration table, and neither names a setting that does not exist.
"""

from __future__ import annotations

import re
from pathlib import Path

from webhook.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {name.upper() for name in Settings.model_fields}


def _readme_configuration_table() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("| "))


def test_settings_are_many() -> None:
    assert len(SETTINGS) > 40 and "DATABASE_URL" in SETTINGS


def test_every_setting_is_in_the_env_example() -> None:
    example = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    assert sorted(SETTINGS - named) == [], "add these to .env.example"
    assert sorted(named - SETTINGS) == [], ".env.example names settings that do not exist"


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    table = _readme_configuration_table()
    # a row may name several: `CSAT_QUESTION_EN`/`_FA`/`_AR` expands to each
    named: set[str] = set()
    for cell in re.findall(r"`([A-Z][A-Z0-9_/`]+)`", table):
        parts = cell.replace("`", "").split("/")
        stem = parts[0].rsplit("_", 1)[0]
        named.add(parts[0])
        named.update(stem + part for part in parts[1:] if part.startswith("_"))
    named &= {n for n in named if re.fullmatch(r"[A-Z][A-Z0-9_]+", n)}
    assert sorted(SETTINGS - named) == [], "add these to the README's configuration table"
    assert sorted(n for n in named - SETTINGS if "_" in n) == [], "the README names settings that do not exist"


TRUST_PREFIXES = ("RATE_LIMIT_", "SIGN_IN_", "REDACT_", "RETENTION_", "TRUSTED_", "ACTION_ENDPOINT", "MAX_ACTION")
TRUST_SETTINGS = sorted(name for name in SETTINGS if name.startswith(TRUST_PREFIXES))


def test_security_doc_names_every_trust_setting_with_its_default() -> None:
    """docs/security.md explains each limit and privacy switch; its defaults are the code's."""
    doc = (ROOT / "docs" / "security.md").read_text()
    assert len(TRUST_SETTINGS) >= 15
    assert [name for name in TRUST_SETTINGS if f"`{name}`" not in doc] == [], "explain these in docs/security.md"
    defaults = Settings.model_construct()
    for name in TRUST_SETTINGS:
        if name.startswith("RATE_LIMIT_") and name != "RATE_LIMIT_ENABLED":
            default = getattr(defaults, name.lower())
            assert re.search(rf"`{name}` {re.escape(default)}\b", doc), f"docs/security.md: {name} is {default}"
