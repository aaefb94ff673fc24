"""What the service itself says (not the bot's dialogue, which lives in Rasa and ``actions``)."""

from __future__ import annotations

PHRASES: dict[str, dict[str, str]] = {
    "no_reply": {
        "en": "Sorry, something went wrong on our side. Please ask again, or ask for a person.",
        "fa": "متأسفیم، مشکلی در سمت ما پیش آمد. لطفاً دوباره بپرسید یا درخواست گفتگو با پشتیبان بدهید.",
        "ar": "عذرًا، حدث خطأ من جهتنا. يرجى السؤال مرة أخرى، أو طلب التحدث إلى موظف.",
    },
    "bot_unavailable": {
        "en": "Sorry, I can't answer right now. Your message is saved, and I'll be back shortly.",
        "fa": "متأسفم، الان نمی‌توانم پاسخ دهم. پیام شما ذخیره شد و به‌زودی برمی‌گردم.",
        "ar": "عذرًا، لا أستطيع الرد الآن. تم حفظ رسالتك، وسأعود قريبًا.",
    },
    "message_rejected": {
        "en": "Sorry, I couldn't take that message: {detail}.",
        "fa": "متأسفم، این پیام پذیرفته نشد: {detail}.",
        "ar": "عذرًا، تعذّر قبول هذه الرسالة: {detail}.",
    },
    "welcome_back_topic": {
        "en": "Welcome back. You were asking about “{topic}”. How can I help you further?",
        "fa": "خوش برگشتید. دربارهٔ «{topic}» پرسیده بودید. چه کمک دیگری از دستم برمی‌آید؟",
        "ar": "أهلًا بعودتك. كنت تسأل عن «{topic}». كيف يمكنني مساعدتك أكثر؟",
    },
    "welcome_back": {
        "en": "Welcome back. This chat continues your conversation. How can I help?",
        "fa": "خوش برگشتید. این گفتگو ادامهٔ گفتگوی قبلی شماست. چطور می‌توانم کمک کنم؟",
        "ar": "أهلًا بعودتك. هذه المحادثة استمرار لمحادثتك السابقة. كيف يمكنني المساعدة؟",
    },
    "unsupported_attachment": {
        "en": "Thanks, I've saved your {kind}. I can only read text, so please describe your question in words. "
        "If a person should look at the file, write /human.",
        "fa": "ممنون، {kind} شما ذخیره شد. من فقط متن را می‌خوانم؛ لطفاً سؤالتان را با کلمات بنویسید. "
        "اگر لازم است یکی از همکاران فایل را ببیند، ‎/human‎ را بفرستید.",
        "ar": "شكرًا، لقد حفظت {kind}. أستطيع قراءة النصوص فقط، لذا يرجى وصف سؤالك بالكلمات. "
        "إذا كان يجب أن يطّلع موظف على الملف، فاكتب ‎/human‎.",
    },
    "telegram_help": {
        "en": "Ask me anything about orders, delivery, returns, payments or your account, in English, "
        "Persian or Arabic.\n\n/human: talk to a person\n/language: choose your language\n"
        "/web: continue this conversation on our website\n\nHelp centre: {help_url}",
        "fa": "هر سؤالی دربارهٔ سفارش، ارسال، مرجوعی، پرداخت یا حساب کاربری دارید به فارسی، انگلیسی یا عربی "
        "بپرسید.\n\n/human: گفتگو با پشتیبان\n/language: انتخاب زبان\n/web: ادامهٔ همین گفتگو در وب‌سایت\n\n"
        "مرکز راهنما: {help_url}",
        "ar": "اسألني عن الطلبات أو التوصيل أو الإرجاع أو الدفع أو حسابك، بالعربية أو الفارسية أو الإنجليزية."
        "\n\n/human: التحدث إلى موظف\n/language: اختيار اللغة\n/web: متابعة هذه المحادثة على موقعنا\n\n"
        "مركز المساعدة: {help_url}",
    },
    "choose_language": {
        "en": "Which language would you like me to use?",
        "fa": "ترجیح می‌دهید به کدام زبان صحبت کنیم؟",
        "ar": "ما اللغة التي تفضّل أن أستخدمها؟",
    },
    "language_set": {
        "en": "Done: I'll answer in English.",
        "fa": "انجام شد: به فارسی پاسخ می‌دهم.",
        "ar": "تم: سأجيب بالعربية.",
    },
    "web_link": {
        "en": "Open this link to continue this conversation on our website (it works once, for {minutes} minutes):"
        "\n{url}",
        "fa": "برای ادامهٔ همین گفتگو در وب‌سایت این پیوند را باز کنید (یک بار و تا {minutes} دقیقه معتبر است):\n{url}",
        "ar": "افتح هذا الرابط لمتابعة هذه المحادثة على موقعنا (يعمل مرة واحدة ولمدة {minutes} دقيقة):\n{url}",
    },
    "invalid_link": {
        "en": "That link code is no longer valid (it works once and expires). Ask for a new one on the website; "
        "meanwhile, I'm happy to help here.",
        "fa": "این کد پیوند دیگر معتبر نیست (فقط یک بار کار می‌کند و منقضی می‌شود). از وب‌سایت کد تازه بگیرید؛ "
        "تا آن موقع با کمال میل همین‌جا کمک می‌کنم.",
        "ar": "رمز الربط هذا لم يعد صالحًا (يعمل مرة واحدة وتنتهي صلاحيته). اطلب رمزًا جديدًا من الموقع؛ "
        "وفي الأثناء يسعدني مساعدتك هنا.",
    },
    "group_private_only": {
        "en": "I answer support questions in a private chat, to keep your details private: {url}",
        "fa": "برای حفظ حریم خصوصی، به سؤال‌های پشتیبانی در گفتگوی خصوصی پاسخ می‌دهم: {url}",
        "ar": "أجيب عن أسئلة الدعم في محادثة خاصة حفاظًا على خصوصية بياناتك: {url}",
    },
}

PHRASES.update(
    {
        "queued": {
            "en": "A person from our team will join this chat shortly. You are number {position} in the queue.",
            "fa": "یکی از همکاران ما به‌زودی به این گفتگو می‌پیوندد. شما نفر {position} در صف هستید.",
            "ar": "سينضم أحد أعضاء فريقنا إلى هذه المحادثة قريبًا. ترتيبك في قائمة الانتظار: {position}.",
        },
        "offline": {
            "en": "Our team isn't available right now (we answer: {hours}). Leave your message here and we'll "
            "reply in this chat as soon as we're back.",
            "fa": "همکاران ما الان در دسترس نیستند (ساعات پاسخ‌گویی: {hours}). پیامتان را همین‌جا بگذارید؛ "
            "به محض بازگشت در همین گفتگو پاسخ می‌دهیم.",
            "ar": "فريقنا غير متاح حاليًا (أوقات الرد: {hours}). اترك رسالتك هنا وسنرد في هذه المحادثة فور عودتنا.",
        },
        "agent_joined": {
            "en": "{name} has joined the conversation.",
            "fa": "{name} به گفتگو پیوست.",
            "ar": "انضم {name} إلى المحادثة.",
        },
        "transferred": {
            "en": "{name} is now helping you.",
            "fa": "از این پس {name} به شما کمک می‌کند.",
            "ar": "{name} يساعدك الآن.",
        },
        "back_to_bot": {
            "en": "You're back with the assistant. How else can I help?",
            "fa": "دوباره با دستیار خودکار در ارتباط هستید. چه کمک دیگری از دستم برمی‌آید؟",
            "ar": "عدت إلى المساعد الآلي. كيف يمكنني مساعدتك أيضًا؟",
        },
        "resolved": {
            "en": "This conversation is now closed. Thank you for contacting us!",
            "fa": "این گفتگو بسته شد. از تماس شما سپاسگزاریم!",
            "ar": "تم إغلاق هذه المحادثة. شكرًا لتواصلك معنا!",
        },
        "csat_question": {
            "en": "How satisfied are you with the help you got? (1 = not at all, 5 = very)",
            "fa": "چقدر از کمکی که گرفتید راضی هستید؟ (۱ = اصلاً، ۵ = خیلی زیاد)",
            "ar": "ما مدى رضاك عن المساعدة التي تلقيتها؟ (1 = غير راضٍ إطلاقًا، 5 = راضٍ جدًا)",
        },
        "csat_comment": {
            "en": "Thank you! Would you like to tell us more? Write it here, or press Skip.",
            "fa": "سپاسگزاریم! اگر توضیحی دارید همین‌جا بنویسید، یا «رد شدن» را بزنید.",
            "ar": "شكرًا لك! هل تودّ إخبارنا بالمزيد؟ اكتب هنا، أو اضغط «تخطٍّ».",
        },
        "csat_skip": {"en": "Skip", "fa": "رد شدن", "ar": "تخطٍّ"},
        "csat_thanks": {
            "en": "Thanks for your feedback!",
            "fa": "از بازخورد شما سپاسگزاریم!",
            "ar": "شكرًا على ملاحظاتك!",
        },
        "frustrated": {
            "en": "I'm sorry this has been frustrating. Let me bring in a person from our team.",
            "fa": "متأسفم که این‌قدر آزاردهنده بوده. شما را به یکی از همکارانمان وصل می‌کنم.",
            "ar": "آسف لأن الأمر كان محبطًا. دعني أحوّلك إلى أحد أعضاء فريقنا.",
        },
    }
)

ATTACHMENT_KINDS: dict[str, dict[str, str]] = {
    "photo": {"en": "photo", "fa": "عکس", "ar": "الصورة"},
    "document": {"en": "file", "fa": "فایل", "ar": "الملف"},
    "voice": {"en": "voice message", "fa": "پیام صوتی", "ar": "الرسالة الصوتية"},
    "audio": {"en": "audio file", "fa": "فایل صوتی", "ar": "الملف الصوتي"},
    "video": {"en": "video", "fa": "ویدیو", "ar": "الفيديو"},
    "sticker": {"en": "sticker", "fa": "استیکر", "ar": "الملصق"},
    "other": {"en": "message", "fa": "پیام", "ar": "الرسالة"},
}


def phrase(key: str, lang: str | None, **values: object) -> str:
    table = PHRASES[key]
    text = table.get(lang or "en", table["en"])
    return text.format(**values) if values else text


def attachment_name(kind: str, lang: str | None) -> str:
    table = ATTACHMENT_KINDS.get(kind, ATTACHMENT_KINDS["other"])
    return table.get(lang or "en", table["en"])
