"""An explained frustration score for one customer message.

Each signal adds a weight, and the signals found are kept, so an agent (and the
metrics) can see *why* a conversation was handed over, not just that it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from knowledge_base.text import normalize

# Short, deliberately plain lexicons: words customers use when they are fed up.
NEGATIVE_WORDS: dict[str, set[str]] = {
    "en": {
        "useless",
        "stupid",
        "ridiculous",
        "terrible",
        "awful",
        "worst",
        "angry",
        "furious",
        "annoyed",
        "annoying",
        "frustrated",
        "frustrating",
        "unacceptable",
        "pathetic",
        "horrible",
        "rubbish",
        "scam",
        "hate",
        "disgusting",
        "joke",
        "wtf",
        "nonsense",
        "incompetent",
    },
    "fa": {
        "افتضاح",
        "مزخرف",
        "بدترین",
        "عصبانی",
        "خسته",
        "کلافه",
        "داغون",
        "بی‌فایده",
        "بیفایده",
        "مسخره",
        "کلاهبرداری",
        "افتضاحه",
        "مزخرفه",
        "ناراضی",
        "اعصاب",
        "متنفرم",
    },
    "ar": {
        "سيء",
        "سيئ",
        "أسوأ",
        "اسوأ",
        "غاضب",
        "زفت",
        "فاشل",
        "تافه",
        "مزعج",
        "محبط",
        "نصب",
        "احتيال",
        "مقرف",
        "سخيف",
        "غير مقبول",
        "أكره",
        "اكره",
    },
}
NEGATIVE_PHRASES = (
    "not helpful",
    "doesn't help",
    "does not help",
    "didn't help",
    "no help",
    "waste of time",
    "fed up",
    "sick of",
    "talk to a human",
    "real person",
    "کمکی نکرد",
    "به درد نمی‌خوره",
    "لا يساعد",
    "لم يساعد",
    "مضيعة للوقت",
)

WEIGHTS = {"negative_words": 0.4, "all_caps": 0.3, "repeated": 0.4, "punctuation": 0.2}


@dataclass(frozen=True)
class Frustration:
    score: float
    signals: dict[str, str] = field(default_factory=dict)  # signal -> what triggered it

    def explain(self) -> str:
        return ", ".join(f"{name} ({why})" for name, why in self.signals.items()) or "none"


def _letters(text: str) -> str:
    return "".join(ch for ch in text if ch.isalpha())


def score(text: str, earlier: list[str] | None = None) -> Frustration:
    """Score ``text`` in [0, 1]; ``earlier`` are the customer's previous messages, newest last."""
    signals: dict[str, str] = {}
    total = 0.0
    folded = normalize(text)
    words = set(re.findall(r"[\w\u200c']+", folded))
    found = sorted(
        {w for lexicon in NEGATIVE_WORDS.values() for w in lexicon if normalize(w) in words}
        | {p for p in NEGATIVE_PHRASES if normalize(p) in folded}
    )
    if found:
        total += WEIGHTS["negative_words"] * min(2, len(found))
        signals["negative_words"] = ", ".join(found[:4])
    letters = _letters(text)
    latin = [ch for ch in letters if ch.isascii()]
    if len(latin) >= 6 and sum(ch.isupper() for ch in latin) / len(latin) > 0.7:
        total += WEIGHTS["all_caps"]
        signals["all_caps"] = f"{len(latin)} letters, mostly capitals"
    if folded and earlier and folded in {normalize(e) for e in earlier[-3:]}:
        total += WEIGHTS["repeated"]
        signals["repeated"] = "the same message again"
    if re.search(r"[!?！؟]{3,}", text):
        total += WEIGHTS["punctuation"]
        signals["punctuation"] = "!!! or ???"
    return Frustration(round(min(1.0, total), 2), signals)
