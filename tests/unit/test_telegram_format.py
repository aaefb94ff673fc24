"""Telegram's message format: long replies split within its limit, text made safe HTML."""

from webhook.channels.telegram.format import split_text, to_html


def test_long_replies_are_split_within_telegrams_limit():
    paragraph = "word " * 300
    text = "\n\n".join([paragraph.strip()] * 6)  # about 9,000 characters
    chunks = split_text(text)
    assert len(chunks) == 3 and all(len(c) <= 4096 for c in chunks)
    assert " ".join(" ".join(chunks).split()) == " ".join(text.split())  # nothing lost
    assert to_html("a <b> & **bold**") == "a &lt;b&gt; &amp; <b>bold</b>"
