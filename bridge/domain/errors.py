"""The project's own errors. Translators raise only these on bad input."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error batch-bridge raises on purpose."""


class TranslationError(BridgeError):
    """Input that cannot become a Kubernetes job; the message is shown to the submitting user.

    ``source`` names the file (or ad) and ``line`` the 1-based line, when known.
    """

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        return where + self.message

    def at(self, source: str | None = None, line: int | None = None) -> TranslationError:
        """Return a copy located at ``source``/``line`` (keeps what is already known)."""
        return type(self)(self.message, source=self.source or source, line=self.line or line)


class PolicyError(TranslationError):
    """The job is well formed but the site's policy refuses it (storage, identity, image)."""
