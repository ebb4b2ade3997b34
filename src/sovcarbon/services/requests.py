"""Command bodies as pydantic models, shared by the HTTP API and the CLI (one way to say each thing).

Unknown fields are refused (1003); quantities are strict integers (a float or a string in a
``*_kg`` field is 2003); every string has a length limit.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from sovcarbon.domain.model import AccountKind, AccountStatus, KycStatus, ParticipantKind, Purpose

Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Id = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[a-z]{2,5}_[0-9a-zA-Z]{1,34}$")]
Kg = StrictInt
Serial = Annotated[str, Field(min_length=1, max_length=80)]
# AEF "Mitigation type" (domain.article6.MITIGATION_TYPES); anything else is 1003 at entry
MitigationType = Literal["Emission reductions", "Removals", "Emission reductions and removals"]


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class License(Command):
    kind: Literal["exchange", "broker", "dealer", "platform"]
    number: Annotated[str, Field(min_length=1, max_length=80)]


class ParticipantIn(Command):
    name: Name
    kind: ParticipantKind
    country: Country
    kyc_status: KycStatus = KycStatus.PENDING
    license: License | None = None
    wallet_address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None


class ParticipantUpdate(Command):
    kyc_status: KycStatus | None = None
    status: Literal["active", "suspended", "closed"] | None = None
    license: License | None = None
    wallet_address: Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")] | None = None


class AccountIn(Command):
    participant_id: Id
    kind: AccountKind = AccountKind.HOLDING
    name: Annotated[str, Field(max_length=200)] = ""


class AccountStatusIn(Command):
    status: AccountStatus
    reason: Annotated[str, Field(max_length=2000)] = ""


class Period(Command):
    start: date
    end: date


class OtherRegistration(Command):
    programme: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]{1,29}$", description="e.g. CDM, VCS, GS")]
    id: Annotated[str, Field(min_length=1, max_length=80)]


class ProjectIn(Command):
    name: Annotated[str, Field(min_length=1, max_length=300)]
    standard: Annotated[str, Field(min_length=1, max_length=30)]
    methodology: Annotated[str, Field(min_length=1, max_length=120)]
    host_country: Country
    proponent_id: Id
    crediting_period: Period
    location: dict[str, Any] = Field(description="GeoJSON geometry or Feature")
    description: Annotated[str, Field(max_length=10_000)] = ""
    other_registrations: Annotated[list[OtherRegistration], Field(max_length=20)] = []
    mitigation_type: MitigationType = Field(
        default="Emission reductions", description="what the project's units are (AEF tables 2-4); recorded")

    @model_validator(mode="after")
    def _geojson(self) -> ProjectIn:
        kind = self.location.get("type")
        allowed = {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon",
                   "Feature", "FeatureCollection", "GeometryCollection"}
        if kind not in allowed:
            raise ValueError(f"location must be GeoJSON (type one of {sorted(allowed)})")
        if kind == "Feature":
            if not isinstance(self.location.get("geometry"), dict):
                raise ValueError("a GeoJSON Feature needs a geometry object")
        elif kind != "FeatureCollection" and kind != "GeometryCollection" and "coordinates" not in self.location:
            raise ValueError("a GeoJSON geometry needs coordinates")
        if len(repr(self.location)) > 1_000_000:
            raise ValueError("location is larger than 1 MB")
        return self


class ValidationIn(Command):
    report: Annotated[str, Field(max_length=10_000)] = ""
    approved: bool = True


class IssuanceIn(Command):
    project_id: Id
    vintage: Annotated[int, Field(ge=1000, le=9999)]
    monitoring_period: Period
    quantity_kg: Kg
    account_id: Id
    buffer_kg: Kg | None = None  # None: the share the standard requires for the project's methodology
    verification_ref: Annotated[str, Field(max_length=200)] | None = None
    verified_kg: Kg | None = None  # the verification report's verified quantity (5003 above it)
    mitigation_type: MitigationType | None = None  # overrides the project's for this issuance's units


class MitigationTypeIn(Command):
    mitigation_type: MitigationType


class DecisionIn(Command):
    reason: Annotated[str, Field(max_length=2000)] = ""


class _Selection(Command):
    quantity_kg: Kg | None = None
    serials: Annotated[list[Serial], Field(max_length=1000)] | None = None
    project_id: Id | None = None
    vintage: Annotated[int, Field(ge=1000, le=9999)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> _Selection:
        if (self.quantity_kg is None) == (self.serials is None):
            raise ValueError("give exactly one of quantity_kg or serials")
        if self.serials is not None and (self.project_id is not None or self.vintage is not None):
            raise ValueError("project_id and vintage filter a quantity; serials name units exactly")
        return self


class TransferIn(_Selection):
    from_account_id: Id
    to_account_id: Id
    note: Annotated[str, Field(max_length=2000)] = ""


class Beneficiary(Command):
    name: Name
    country: Country


class RetirementIn(_Selection):
    account_id: Id
    beneficiary: Beneficiary
    purpose: Purpose
    claim_year: Annotated[int, Field(ge=1990, le=2100)]
    note: Annotated[str, Field(max_length=2000)] = ""


class CancellationIn(_Selection):
    account_id: Id
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class FreezeIn(Command):
    serials: Annotated[list[Serial], Field(min_length=1, max_length=1000)]
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    frozen: bool = True
