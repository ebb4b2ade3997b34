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
    """An intermediary onboards a KYC'd holder it serves (a registry admin names the intermediary)."""

    participant_id: Id
    intermediary_id: Id | None = None


class TokenizationIn(_Selection):
    """Tokenize a quantity (lowest serials first) or exact serial ranges of the holder's account."""

    holder_account_id: Id
    custody_account_id: Id | None = Field(default=None, description="default: the intermediary's custody account")
    note: Annotated[str, Field(max_length=2000)] = ""
