"""The bot's commands: ``/start [code]``, ``/help``, ``/human``, ``/language`` and ``/web``.

``/start`` and ``/human`` are turns Rasa answers (``/greet``, ``/request_human``);
the others the channel answers itself, but they are still stored as turns so the
conversation shows them. An unknown command gets the help text.
"""

from __future__ import annotations

from dataclasses import replace

from telegram import Message

from webhook.channels.telegram.turns import TurnSender
from webhook.domain.enums import Channel
from webhook.domain.errors import LinkError
from webhook.domain.messages import BotReply, InboundMessage, LocalAnswer
from webhook.domain.phrases import phrase
from webhook.services.conversations import ConversationService

COMMAND_MENU = [
    ("start", "Start, or link this chat with a code"),
    ("help", "What I can do"),
    ("human", "Talk to a person"),
    ("language", "Choose your language"),
    ("web", "Continue on the website"),
]
LANGUAGE_BUTTONS = [("English", "en"), ("فارسی", "fa"), ("العربية", "ar")]
LANGUAGE_PAYLOAD = "lang:"  # a language button's payload: "lang:<code>"


class Commands:
    """Answers a private chat's ``/command``; the message has been checked to start with ``/``."""

    def __init__(self, service: ConversationService, turns: TurnSender, public_url: str, link_ttl_s: int) -> None:
        self.service = service
        self.turns = turns
        self.public_url = public_url
        self.link_ttl_s = link_ttl_s

    async def handle(self, message: Message, text: str, base: InboundMessage) -> None:
        """Run ``text``'s command; ``base`` is the customer's message without text yet."""
        command, _, argument = text.partition(" ")
        command = command.split("@", 1)[0].lower()  # "/help@larkspur_bot" in a menu
        client_id = f"tg:{message.message_id}"
        chat_id = message.chat.id
        if command == "/start":
            await self._start(chat_id, argument.strip(), replace(base, client_message_id=client_id))
            return
        if command == "/human":
            inbound = replace(base, text="/human", payload="/request_human", client_message_id=client_id)
            await self.turns.send(chat_id, inbound)
            return
        answers: dict[str, LocalAnswer] = {"/language": self._language_menu, "/web": self._web_link(base.external_id)}
        answer = answers.get(command, self._help)
        inbound = replace(base, text=text, client_message_id=client_id)
        await self.turns.send(chat_id, inbound, answer=answer, typing=False)

    async def _start(self, chat_id: int, code: str, base: InboundMessage) -> None:
        """``/start <code>`` joins this chat to a web conversation; a bad code, or none, greets."""
        bad_link = False
        if code:
            try:
                await self.service.redeem_link(
                    code, Channel.TELEGRAM, base.external_id, base.language, base.display_name
                )
                return
            except LinkError:
                bad_link = True
        await self.turns.send(chat_id, replace(base, text="/start", payload="/greet"))
        if bad_link:
            await self._say_invalid_link(base.external_id)

    async def _say_invalid_link(self, external_id: str) -> None:
        conversation_id = await self.service.current_conversation_id(Channel.TELEGRAM, external_id)
        if conversation_id:
            lang = await self.service.language_of(Channel.TELEGRAM, external_id)
            await self.service.post(conversation_id, Channel.TELEGRAM, [BotReply(phrase("invalid_link", lang))])

    async def _help(self, lang: str) -> list[BotReply]:
        return [BotReply(phrase("telegram_help", lang, help_url=f"{self.public_url}/help?lang={lang}"))]

    async def _language_menu(self, lang: str) -> list[BotReply]:
        buttons = [{"title": title, "payload": f"{LANGUAGE_PAYLOAD}{code}"} for title, code in LANGUAGE_BUTTONS]
        return [BotReply(phrase("choose_language", lang), buttons)]

    def _web_link(self, external_id: str) -> LocalAnswer:
        """An answer that issues a one-time code to continue this conversation on the website."""

        async def answer(lang: str) -> list[BotReply]:
            issued = await self.service.issue_link(Channel.TELEGRAM, external_id, Channel.WEB)
            url = f"{self.public_url}/?larkspur_link={issued.code}"
            minutes = max(1, self.link_ttl_s // 60)
            return [BotReply(phrase("web_link", lang, url=url, minutes=minutes))]

        return answer
