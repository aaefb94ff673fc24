"""Every error the product raises on purpose, under one base.

Each also keeps the built-in base callers caught before (``ValueError``,
``LookupError``, ``RuntimeError``), so ``except ValueError`` still works. The
groups say what a caller should tell its client: :class:`InvalidInput` is the
caller's mistake (422), :class:`NotFound` a missing thing (404),
:class:`StateConflict` a state that does not allow it (409),
:class:`Unavailable` a part that is down (503), :class:`ConfigurationError` a
setting that cannot be used (the process does not start).
"""

from __future__ import annotations


class LarkspurError(Exception):
    """The base of the product's own errors."""


class InvalidInput(LarkspurError, ValueError):
    """The input cannot be accepted as it is; nothing was changed."""


class NotFound(LarkspurError, LookupError):
    """The thing asked for does not exist."""


class StateConflict(LarkspurError, RuntimeError):
    """The thing exists, but its state does not allow this now."""


class Unavailable(LarkspurError, RuntimeError):
    """A part the request needs is down; what could be kept is kept."""


class ConfigurationError(LarkspurError, ValueError):
    """A setting cannot be used as given."""


# -- conversations ---------------------------------------------------------------------
class MessageRejected(InvalidInput):
    """The message cannot be accepted as it is (empty, too long); nothing was stored."""


class BotUnavailable(Unavailable):
    """The message is stored, but the bot could not answer it now."""

    def __init__(self, conversation_id: str, message_id: int) -> None:
        super().__init__(f"the bot is unavailable; message {message_id} is stored")
        self.conversation_id = conversation_id
        self.message_id = message_id


class RasaUnavailable(Unavailable):
    """Rasa did not answer; the customer's message is stored and can be replayed."""


class LinkError(InvalidInput):
    """The link code is unknown, already used, expired, or meant for another channel."""


# -- agents ----------------------------------------------------------------------------
class NotAllowed(StateConflict):
    """The conversation is not in a state (or not owned by the agent) that allows this."""


class Conflict(StateConflict):
    """Another agent got there first."""


class UserError(InvalidInput):
    """A user cannot be created or changed as asked; the message says why."""


class InvalidUsername(UserError):
    pass


class WeakPassword(UserError):
    pass


class DuplicateUser(UserError):
    pass


class UnknownUser(UserError):
    pass


# -- the help centre -------------------------------------------------------------------
class ArticleNotFound(NotFound):
    pass


class VersionNotFound(NotFound):
    pass


class SuggestionNotFound(NotFound):
    pass


class SuggestionConflict(InvalidInput):
    """The suggestions cannot be accepted or dismissed as asked (already decided, article gone, too many)."""


class JobRunning(StateConflict):
    """An optimise or revert job is already running, in this worker or another."""


class NoJobRunning(StateConflict):
    """There is no job to cancel."""


class JobCancelled(LarkspurError):
    """An editor cancelled the job."""


# -- configuration and processes -------------------------------------------------------
class BusinessHoursError(ConfigurationError):
    """The BUSINESS_HOURS setting cannot be read."""


class DatabaseURLError(ConfigurationError):
    """The configured DATABASE_URL names a database we do not support."""


class TelegramConfigError(ConfigurationError):
    """The Telegram settings contradict each other."""


class StartupFailed(LarkspurError, RuntimeError):
    """A supervised process did not become ready."""


# -- privacy ---------------------------------------------------------------------------
class CustomerNotFound(NotFound):
    """No customer matches the reference (an id, a conversation, a channel identity, an e-mail)."""


class TrackerStoreUnavailable(Unavailable):
    """Rasa's tracker store could not be read or changed; nothing of ours was erased."""
