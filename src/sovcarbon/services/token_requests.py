"""Token command bodies (pydantic), shared by the HTTP API and the CLI.

Same conventions as ``services.requests``: unknown fields refused (1003), strict integer kg (2003),
bounded strings and lists.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from sovcarbon.services.requests import Command, Id, _Selection

OutboxStatus = Literal["pending", "sent", "confirmed", "failed"]
DeadLetterStatus = Literal["open", "resolved"]


class TokenHolderIn(Command):
    """The holder's own act (its key names the licensed intermediary that will serve it), or the intermediary
    presenting the holder's consent (``consent_id``)."""

    participant_id: Id
    intermediary_id: Id | None = None
    consent_id: Id | None = None


class TokenizationIn(_Selection):
    """The holder's request (its own key), or the intermediary's under the holder's consent: tokenize a quantity
    (lowest serials first) or exact serial ranges of the holder's account."""

    holder_account_id: Id
    intermediary_id: Id | None = Field(default=None, description="default: the intermediary serving the holder")
    custody_account_id: Id | None = Field(default=None, description="default: the intermediary's custody account")
    consent_id: Id | None = Field(default=None, description="an intermediary acting for the holder presents its "
                                                            "consent (POST /v1/token-consents)")
    note: Annotated[str, Field(max_length=2000)] = ""
