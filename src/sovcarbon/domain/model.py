"""The registry's nouns as plain values: states, kinds, roles, blocks.

A *block* is a contiguous serial range of one issuance in one state held by one account. Blocks form
an immutable split tree: an operation consumes leaf blocks and creates children; a parent's range,
state and holder are never rewritten (only its ``is_leaf`` flag drops when it is consumed).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

KG_PER_TONNE = 1000


class BlockState(StrEnum):
    HELD = "held"
    IMMOBILIZED = "immobilized"
    PLEDGED = "pledged"
    IN_TRANSIT = "in_transit"
    RETIRED = "retired"
    CANCELLED = "cancelled"
    EXPORTED = "exported"


FINAL_STATES = frozenset({BlockState.RETIRED, BlockState.CANCELLED})
LOCKED_STATES = frozenset({BlockState.IMMOBILIZED, BlockState.PLEDGED, BlockState.IN_TRANSIT})


class Role(StrEnum):
    REGISTRY_ADMIN = "registry_admin"
    REGISTRY_APPROVER = "registry_approver"
    PROPONENT = "proponent"
    VVB = "vvb"
    HOLDER = "holder"
    INTERMEDIARY = "intermediary"
    BANK = "bank"
    REGULATOR = "regulator"
    PEER_REGISTRY = "peer_registry"


# Roles that act on accounts their participant owns.
HOLDING_ROLES = frozenset({Role.HOLDER, Role.PROPONENT, Role.INTERMEDIARY, Role.BANK})
REGISTRY_ROLES = frozenset({Role.REGISTRY_ADMIN, Role.REGISTRY_APPROVER})


class ParticipantKind(StrEnum):
    GOVERNMENT = "government"
    COMPANY = "company"
    INDIVIDUAL = "individual"
    INTERMEDIARY = "intermediary"
    BANK = "bank"
    VVB = "vvb"
    PEER_REGISTRY = "peer_registry"


class KycStatus(StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


class ParticipantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"  # final: the participant's keys only read its own data, its accounts receive nothing


class AccountKind(StrEnum):
    HOLDING = "holding"
    BUFFER = "buffer"
    CUSTODY = "custody"
    RETIREMENT = "retirement"
    CANCELLATION = "cancellation"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    FROZEN = "frozen"
    CLOSED = "closed"


class ProjectStatus(StrEnum):
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    REGISTERED = "registered"
    REJECTED = "rejected"


class IssuanceStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    ISSUED = "issued"
    REJECTED = "rejected"


class Purpose(StrEnum):
    DOMESTIC_COMPLIANCE = "domestic_compliance"
    VOLUNTARY = "voluntary"
    NDC = "ndc"
    OIMP = "oimp"
    CORSIA = "corsia"


@dataclass(frozen=True)
class Actor:
    """Who is calling: an API key bound to a participant and a role (or the registry itself)."""

    key_id: str
    role: Role
    participant_id: str | None
    name: str

    def same_person(self, other_key_id: str, other_name: str) -> bool:
        return self.key_id == other_key_id or (bool(self.name) and self.name == other_name)


@dataclass(frozen=True)
class Block:
    id: str
    issuance_id: str
    project_id: str
    standard: str
    vintage: int
    serial_prefix: str
    first_kg: int
    last_kg: int
    state: BlockState
    account_id: str
    parent_id: str | None
    txn_id: str
    frozen: bool = False
    lot_id: str | None = None
    lien_id: str | None = None  # the lien of a PLEDGED block (domain/pledge.py)

    def __post_init__(self) -> None:
        assert 1 <= self.first_kg <= self.last_kg, (self.first_kg, self.last_kg)

    @property
    def quantity_kg(self) -> int:
        return self.last_kg - self.first_kg + 1

    def child(self, new_id: str, txn_id: str, first_kg: int, last_kg: int, **changes: object) -> Block:
        assert self.first_kg <= first_kg <= last_kg <= self.last_kg
        return replace(self, id=new_id, parent_id=self.id, txn_id=txn_id, first_kg=first_kg, last_kg=last_kg, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Participant:
    id: str
    name: str
    kind: ParticipantKind
    country: str
    kyc_status: KycStatus
    status: ParticipantStatus
    license_kind: str | None
    license_number: str | None


@dataclass(frozen=True)
class Account:
    id: str
    participant_id: str
    kind: AccountKind
    status: AccountStatus
    name: str


@dataclass(frozen=True)
class Project:
    id: str
    number: int
    name: str
    standard: str
    methodology: str
    host_country: str
    proponent_id: str
    crediting_start: str  # ISO date
    crediting_end: str  # ISO date
    status: ProjectStatus


@dataclass(frozen=True)
class Issuance:
    id: str
    project_id: str
    number: int
    vintage: int
    period_start: str
    period_end: str
    quantity_kg: int
    buffer_kg: int
    account_id: str
    buffer_account_id: str
    status: IssuanceStatus
    requested_by_key: str
    requested_by_name: str
    serial_prefix: str
