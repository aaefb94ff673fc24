"""What the actions say, in English, Persian and Arabic."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "did_it_help": {
        "en": "Did this help?",
        "fa": "آیا این پاسخ کمکتان کرد؟",
        "ar": "هل ساعدك هذا؟",
    },
    "yes": {"en": "Yes, thanks", "fa": "بله، ممنون", "ar": "نعم، شكرًا"},
    "no": {"en": "No", "fa": "نه", "ar": "لا"},
    "read_more": {"en": "Read the article", "fa": "مطالعهٔ مقاله", "ar": "اقرأ المقال"},
    "other_language": {
        "en": "(This article is not available in English yet; here it is in {language}.)",
        "fa": "(این مقاله هنوز به فارسی موجود نیست؛ نسخهٔ {language} آن را می‌بینید.)",
        "ar": "(هذا المقال غير متوفر بالعربية بعد؛ إليك نسخته باللغة {language}.)",
    },
    "clarify": {
        "en": "I found a few articles that might help. Which one fits your question?",
        "fa": "چند مقاله پیدا کردم که شاید کمک کنند. کدام به سؤال شما مربوط است؟",
        "ar": "وجدت بعض المقالات التي قد تساعدك. أيّها يناسب سؤالك؟",
    },
    "pick_one": {
        "en": "Please pick one of the articles above, or ask your question in other words.",
        "fa": "لطفاً یکی از مقاله‌های بالا را انتخاب کنید، یا سؤالتان را طور دیگری بپرسید.",
        "ar": "يرجى اختيار أحد المقالات أعلاه، أو طرح سؤالك بصيغة أخرى.",
    },
    "none_of_these": {"en": "None of these", "fa": "هیچ‌کدام", "ar": "لا شيء منها"},
    "not_found": {
        "en": "Sorry, I couldn't find an answer to that. Would you like to talk to a person?",
        "fa": "متأسفم، پاسخی برای این سؤال پیدا نکردم. می‌خواهید با یکی از همکاران ما صحبت کنید؟",
        "ar": "عذرًا، لم أجد إجابة لذلك. هل تودّ التحدث إلى أحد موظفينا؟",
    },
    "talk_to_person": {"en": "Talk to a person", "fa": "گفتگو با پشتیبان", "ar": "التحدث إلى موظف"},
    "glad": {
        "en": "Glad I could help! Is there anything else I can do for you?",
        "fa": "خوشحالم که کمک کردم! کار دیگری هست که برایتان انجام دهم؟",
        "ar": "سعيد أنني استطعت المساعدة! هل هناك شيء آخر يمكنني فعله لك؟",
    },
    "sorry_not_helpful": {
        "en": "Sorry that didn't help. You can rephrase your question, or I can connect you with a person.",
        "fa": "متأسفم که کمکی نکرد. می‌توانید سؤالتان را طور دیگری بپرسید یا شما را به یکی از همکارانمان وصل کنم.",
        "ar": "آسف لأن ذلك لم يساعد. يمكنك إعادة صياغة سؤالك، أو أوصلك بأحد موظفينا.",
    },
    "ask_again": {
        "en": "All right. What else can I help you with?",
        "fa": "باشه. در چه مورد دیگری می‌توانم کمکتان کنم؟",
        "ar": "حسنًا. بماذا يمكنني مساعدتك أيضًا؟",
    },
    "how_can_i_help": {
        "en": "How can I help you? Ask me about orders, delivery, returns, payments or your account.",
        "fa": "چطور می‌توانم کمکتان کنم؟ دربارهٔ سفارش، ارسال، مرجوعی، پرداخت یا حساب کاربری بپرسید.",
        "ar": "كيف يمكنني مساعدتك؟ اسألني عن الطلبات أو التوصيل أو الإرجاع أو الدفع أو حسابك.",
    },
    "passed_to_team": {
        "en": "I've passed your conversation to our support team. A person will reply here as soon as possible.",
        "fa": "گفتگوی شما را به تیم پشتیبانی سپردم. یکی از همکاران ما در اولین فرصت همین‌جا پاسخ می‌دهد.",
        "ar": "لقد حوّلت محادثتك إلى فريق الدعم. سيردّ عليك أحد موظفينا هنا في أقرب وقت ممكن.",
    },
}

LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"en": "English", "fa": "انگلیسی", "ar": "الإنجليزية"},
    "fa": {"en": "Persian", "fa": "فارسی", "ar": "الفارسية"},
    "ar": {"en": "Arabic", "fa": "عربی", "ar": "العربية"},
}


def say(key: str, lang: str, **values: str) -> str:
    """The message ``key`` in ``lang`` (English when there is no translation)."""
    variants = MESSAGES[key]
    return variants.get(lang, variants["en"]).format(**values)
