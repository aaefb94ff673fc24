"""Text normalisation and language detection for English, Persian and Arabic.

Customers type the same word many ways: Arabic and Persian yeh and kaf, alef
with or without hamza, diacritics, tatweel, zero-width non-joiners, and three
sets of digits. Both the index and every query go through :func:`normalize`
so that these variants meet.
"""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = ("en", "fa", "ar")

_CHAR_MAP = str.maketrans(
    {
        "ي": "ی",  # Arabic yeh -> Persian yeh
        "ى": "ی",  # alef maksura
        "ئ": "ی",
        "ك": "ک",  # Arabic kaf -> Persian keheh
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ؤ": "و",
        "ة": "ه",
        "ۀ": "ه",
        "\u0640": None,  # tatweel
        "\u200c": " ",  # zero-width non-joiner: "می‌خواهم" and "میخواهم" and "می خواهم"
        "\u200d": None,
        "\u200f": None,
        "\u200e": None,
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Persian digits
    }
)
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u06d6-\u06ed]")
_SPACES = re.compile(r"\s+")

# Letters that only one of the two languages uses.
_PERSIAN_ONLY = set("پچژگ")
_PERSIAN_LEANING = set("یک")
_ARABIC_ONLY = set("ةيكىؤإأ") | {chr(c) for c in range(0x064B, 0x0653)}
_ARABIC_WORDS = {"في", "من", "على", "هل", "كيف", "ما", "ماذا", "أريد", "اريد", "لم", "مع", "عن", "هذا", "التي"}
_PERSIAN_WORDS = {"از", "به", "که", "را", "است", "این", "می", "چطور", "چگونه", "کجا", "من", "با", "برای"}


def normalize(text: str) -> str:
    """Fold the spelling variants of Persian/Arabic and case of English for matching."""
    text = unicodedata.normalize("NFKC", text)
    text = _DIACRITICS.sub("", text).translate(_CHAR_MAP)
    return _SPACES.sub(" ", text).strip().lower()


def detect_language(text: str, default: str | None = None) -> str | None:
    """Guess en/fa/ar from the script and letters; ``default`` when the text has no letters.

    Persian and Arabic share a script, so we count letters only one of them uses
    and a few very common function words.
    """
    arabic_script = latin = 0
    persian_score = arabic_score = 0.0
    for ch in text:
        if "\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff":
            arabic_script += 1
            if ch in _PERSIAN_ONLY:
                persian_score += 2
            elif ch in _PERSIAN_LEANING:
                persian_score += 1
            elif ch in _ARABIC_ONLY:
                arabic_score += 1
        elif ch.isalpha() and ch.isascii():
            latin += 1
    if arabic_script == 0 and latin == 0:
        return default
    if latin > arabic_script:
        return "en"
    words = set(re.findall(r"[\u0600-\u06ff]+", text))
    arabic_score += 2 * len(words & _ARABIC_WORDS)
    persian_score += 2 * len(words & _PERSIAN_WORDS)
    if persian_score == arabic_score:
        return default if default in ("fa", "ar") else "ar"
    return "fa" if persian_score > arabic_score else "ar"


# Words that point back at something said before ("is *it* free?", "*and* the refund?"). A question
# with one is a follow-up: the search may read it together with the customer's previous question.
_REFERRING_WORDS = {
    "en": {"it", "its", "it's", "that", "this", "these", "those", "them", "they", "there", "one", "same"},
    "fa": {"آن", "این", "اون", "اینو", "اونو", "همین", "همان", "همون", "آنها", "اینها", "اونا", "اینا", "ازش", "براش"},
    "ar": {"ذلك", "هذا", "هذه", "تلك", "ذاك", "هؤلاء", "نفسه", "نفس", "عنه", "عنها", "منه", "منها"},
}
_FOLLOW_UP_OPENERS = {
    "en": ("and ", "also ", "what about ", "how about ", "what if "),
    "fa": ("و ", "پس ", "اگر ", "اگه ", "درباره "),
    "ar": ("و", "ماذا عن ", "وماذا ", "وإذا ", "وكم ", "وهل "),
}


def refers_back(text: str, lang: str | None) -> bool:
    """Whether a question leans on an earlier one: a referring word, or a follow-up opener."""
    lowered = normalize(text)
    langs = [lang] if lang in _REFERRING_WORDS else list(_REFERRING_WORDS)
    words = set(re.findall(r"[\w']+", lowered))
    for code in langs:
        if words & {normalize(w) for w in _REFERRING_WORDS[code]}:
            return True
        openers = tuple(normalize(o) + " " if o.endswith(" ") else normalize(o) for o in _FOLLOW_UP_OPENERS[code])
        if code == "ar":
            # Arabic joins "and" to the next word: "وكم" is "and how much"; keep it to short questions
            if lowered.startswith(openers[1:]) or (lowered.startswith("و") and len(words) <= 4):
                return True
        elif lowered.startswith(openers):
            return True
    return False
