from knowledge_base.text import detect_language, normalize


def test_arabic_and_persian_letter_variants_meet():
    assert normalize("كيف") == normalize("کیف")
    assert normalize("إرجاع") == normalize("ارجاع") == normalize("أرجاع")
    assert normalize("مدرسة") == normalize("مدرسه")


def test_diacritics_tatweel_and_zwnj_are_folded():
    assert normalize("شُكْرًا") == normalize("شكرا")
    assert normalize("شكــــرا") == normalize("شكرا")
    assert normalize("می\u200cخواهم") == normalize("می خواهم")


def test_persian_and_arabic_digits_become_ascii():
    assert normalize("سفارش ۱۲۳۴") == "سفارش 1234"
    assert normalize("طلب ١٢٣٤") == "طلب 1234"


def test_english_is_case_folded_and_spaces_squeezed():
    assert normalize("  Where IS   my Order? ") == "where is my order?"


def test_detects_the_three_languages():
    assert detect_language("How do I return an item?") == "en"
    assert detect_language("چگونه کالا را پس بدهم؟") == "fa"
    assert detect_language("می‌خواهم سفارشم را لغو کنم") == "fa"
    assert detect_language("كيف يمكنني إرجاع المنتج؟") == "ar"
    assert detect_language("أين طلبي؟") == "ar"


def test_text_without_letters_keeps_the_default():
    assert detect_language("12345 ??", default="fa") == "fa"
    assert detect_language("👍") is None
