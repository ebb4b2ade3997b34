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
    """The holder's own act (its key): it names the licensed intermediary that will serve it."""

    participant_id: Id
    intermediary_id: Id | None = None


class TokenizationIn(_Selection):
    """The holder's request (its own key): tokenize a quantity (lowest serials first) or exact serial ranges of
    its account through the intermediary serving it."""

    holder_account_id: Id
    intermediary_id: Id | None = Field(default=None, description="default: the intermediary serving the holder")
    custody_account_id: Id | None = Field(default=None, description="default: the intermediary's custody account")
    note: Annotated[str, Field(max_length=2000)] = ""
