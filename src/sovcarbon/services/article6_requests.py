"""Article 6 command bodies (pydantic), shared by the HTTP API and the CLI.

Same conventions as ``services.requests``: unknown fields refused (1003), strict integer kg (2003),
bounded strings and lists.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from sovcarbon.domain.article6 import ACTIVITY_TYPES, SECTORS, TONNE_KG, CaMethod, FirstTransferEvent, Label, LoaPurpose
from sovcarbon.services.requests import Id, Period, Serial, _Selection

Party = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3 Party code")]
Text200 = Annotated[str, Field(min_length=1, max_length=200)]
MAX_DOCUMENT_BYTES = 1_000_000


class _Command(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthorizedEntity(_Command):
    name: Text200
    party: Party
    participant_id: Id | None = Field(None, description="for an entity holding accounts in this registry")
    identification_number: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 \-/.]+$")] = (
        Field(description="the entity's identification number in its country of incorporation (AEF table 5)"))
    country: Party = Field(description="country of incorporation, ISO alpha-3 (AEF table 5)")


class DocumentIn(_Command):
    """The signed LoA, stored in the registry by its SHA-256."""

    name: Text200
    media_type: Annotated[str, Field(min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")] = (
        "application/pdf")
    content_base64: Annotated[str, Field(min_length=4, max_length=1_400_000)]

    @field_validator("content_base64")
    @classmethod
    def _decodes(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("content_base64 is not base64") from exc
        if not raw or len(raw) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"the document must be 1 to {MAX_DOCUMENT_BYTES} bytes")
        return value

    def content(self) -> bytes:
        return base64.b64decode(self.content_base64, validate=True)


class AuthorizationIn(_Command):
    """The fields of the AEF authorization table, for a grant or (complete, as amended) an amendment."""

    reference: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9 \-/.]+$")] = Field(
        description="the Party-assigned authorization ID (the LoA's own number): letters, digits, space - / .")
    authorization_date: date
    cooperative_approach_id: Annotated[str, Field(pattern=r"^CA\d{4}$")] = Field(
        description="the UNFCCC cooperative approach ID, CA + 4 digits (e.g. CA0007)")
    max_quantity_kg: StrictInt = Field(gt=0, le=10**15, description="whole tonnes (a multiple of 1,000 kg)")
    metric: Literal["tCO2e"] = "tCO2e"
    gwp: Literal["AR5", "AR6"] = "AR5"
    sectors: Annotated[list[Text200], Field(min_length=1, max_length=20,
                                            description="from the UNFCCC nomenclature (table 15(b))")]
    activity_types: Annotated[list[Text200], Field(min_length=1, max_length=20,
                                                   description="from the UNFCCC nomenclature (table 51(b))")]
    mitigation_type: Literal["Emission reductions", "Removals", "Emission reductions and removals"] = Field(
        description="what the authorized mitigation outcomes are (AEF tables 3 and 4)")
    purposes: Annotated[list[LoaPurpose], Field(min_length=1, max_length=2)]
    oimp: Annotated[list[Text200], Field(max_length=10)] = Field(
        default_factory=list, description="named OIMP when purposes include oimp, e.g. CORSIA")
    first_transfer_event: FirstTransferEvent | None = Field(
        None, description="for OIMP: authorization, issuance or use_or_cancellation")
    authorized_parties: Annotated[list[Party], Field(min_length=1, max_length=50)]
    authorized_entities: Annotated[list[AuthorizedEntity], Field(max_length=200)] = Field(default_factory=list)
    timeframe: Period
    terms: Annotated[str, Field(max_length=10_000)] = ""
    project_ids: Annotated[list[Id], Field(max_length=200)] = Field(
        default_factory=list, description="projects whose units the LoA covers; empty = any eligible")
    ca_method: CaMethod = CaMethod.INDICATIVE_TRAJECTORY
    document: DocumentIn | None = None

    @model_validator(mode="after")
    def _unique(self) -> AuthorizationIn:
        if len(set(self.purposes)) != len(self.purposes):
            raise ValueError("purposes repeat")
        if len(set(self.authorized_parties)) != len(self.authorized_parties):
            raise ValueError("authorized_parties repeat")
        unknown = [s for s in self.sectors if s not in SECTORS] + [a for a in self.activity_types
                                                                   if a not in ACTIVITY_TYPES]
        if unknown:
            raise ValueError(f"not in the UNFCCC nomenclature: {unknown}")
        if self.max_quantity_kg % TONNE_KG:
            raise ValueError("max_quantity_kg is whole tonnes (a multiple of 1000)")
        return self

    def loa_body(self) -> dict[str, object]:
        """The version body stored and journaled: the fields above without the document bytes."""
        data = self.model_dump(mode="json", exclude={"document"})
        data["purposes"] = sorted(data["purposes"])
        return data


class RevocationIn(_Command):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    serials: Annotated[list[Serial], Field(min_length=1, max_length=1000)] | None = Field(
        None, description="revoke only these units; absent = the whole LoA")
    document: DocumentIn | None = None


class AttachIn(_Selection):
    """Units placed under an LoA: serials, or a quantity from an account (lowest free serials first)."""

    account_id: Id | None = None

    @model_validator(mode="after")
    def _account(self) -> AttachIn:
        if self.quantity_kg is not None and self.account_id is None:
            raise ValueError("a quantity is taken from an account: give account_id")
        return self


class Destination(_Command):
    party: Party
    registry_id: Annotated[str, Field(min_length=2, max_length=80, description="e.g. IDN01 or the registry name")]
    account_id: Annotated[str, Field(min_length=1, max_length=80)]
    entity: Text200 = Field(description="the acquiring entity in the foreign registry")


class ExportIn(_Selection):
    account_id: Id
    authorization_id: Id
    purpose: LoaPurpose
    destination: Destination
    note: Annotated[str, Field(max_length=2000)] = ""


class LabelIn(_Command):
    serials: Annotated[list[Serial], Field(min_length=1, max_length=1000)]
    label: Label
    reference: Text200 = Field(description="e.g. the host-country attestation for CORSIA, the CCP approval")
    detail: Annotated[dict[str, str], Field(max_length=20)] = Field(default_factory=dict)
