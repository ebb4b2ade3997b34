"""Each operation's pure check raises its rule table's codes in the table's order.

For every pair of rows (earlier, later) of a table, facts breaking both rules get the earlier row's code;
facts breaking one rule get that row's code; the base facts pass. No database: the checks are pure
(``check_transfer``, ``check_retirement``, ``cancel.check_request`` / ``check_approval``,
``issue.check_issue_request`` / ``check_issue_approval``, ``holdings.check_selection``, ``tokenize.check_tokenize``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from sovcarbon.config import thailand_profile
from sovcarbon.domain import cancel, issue, retire, tokenize
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.holdings import IssuedPrefix, Pick, SelectionFacts, check_selection
from sovcarbon.domain.model import (
    Account,
    AccountKind,
    AccountStatus,
    Actor,
    Block,
    BlockState,
    Issuance,
    IssuanceStatus,
    KycStatus,
    Participant,
    ParticipantKind,
    ParticipantStatus,
    Project,
    ProjectStatus,
    Purpose,
    Role,
)
from sovcarbon.domain.serials import format_serial
from sovcarbon.domain.transfer import TransferFacts, check_transfer

PREFIX = "TH-PTVER-00001-2025-001"
HOLDER = Actor("key_holder", Role.HOLDER, "par_a", "Holder A")
SRC = Account("acc_src", "par_a", AccountKind.HOLDING, AccountStatus.ACTIVE, "A")
DST = Account("acc_dst", "par_b", AccountKind.HOLDING, AccountStatus.ACTIVE, "B")


def leaf(account_id: str = SRC.id, state: BlockState = BlockState.HELD, frozen: bool = False,
         standard: str = "PREMIUM_T-VER") -> Block:
    return Block(id="blk_1", issuance_id="iss_1", project_id="prj_1", standard=standard, vintage=2025,
                 serial_prefix=PREFIX, first_kg=1, last_kg=1000, state=state, account_id=account_id, parent_id=None,
                 txn_id="txn_0", frozen=frozen)


UNITS = SelectionFacts(account_id=SRC.id, quantity_kg=10, candidates=(leaf(),))
SERIAL_UNITS = SelectionFacts(account_id=SRC.id, serials=(format_serial(PREFIX, 1, 10),),
                              issuances={PREFIX: IssuedPrefix("issued", 1000)}, leaves=((leaf(),),))

Row = tuple[str, int, Callable[[Any], Any]]


def units(change: Callable[[SelectionFacts], SelectionFacts]) -> Callable[[Any], Any]:
    return lambda f: replace(f, units=change(f.units))


def leaf_change(**change: Any) -> Callable[[SelectionFacts], SelectionFacts]:
    return lambda u: replace(u, leaves=((replace(u.leaves[0][0], **change),),))


def assert_table_order(check: Callable[[Any], Any], base: Any, rows: list[Row]) -> None:
    check(base)  # the base facts break no rule
    for name, code, change in rows:
        with pytest.raises(RegistryError) as one:
            check(change(base))
        assert one.value.code == code, (name, one.value.code)
    for (first, code, change_first), (later, _, change_later) in itertools.combinations(rows, 2):
        with pytest.raises(RegistryError) as both:
            check(change_first(change_later(base)))  # the earlier row's change last: it wins any overlap
        assert both.value.code == code, f"{first!r} then {later!r}: got {both.value.code}"


SELECTION_ROWS: list[Row] = [
    ("a project filter names a project", 1005, lambda u: replace(u, project_id="prj_x", project_found=False)),
    ("serials are well-formed", 2002, lambda u: replace(u, serials=("not a serial",))),
    ("serials were issued here", 4002, lambda u: replace(u, issuances={})),
    ("serials lie inside their issuance", 2002, lambda u: replace(u, issuances={PREFIX: IssuedPrefix("issued", 5)})),
    ("retired units are final", 4004, leaf_change(state=BlockState.RETIRED)),
    ("exported units are gone", 4005, leaf_change(state=BlockState.EXPORTED)),
    ("units are held by the account", 4002, leaf_change(account_id="acc_other")),
    ("frozen units cannot move", 4006, leaf_change(frozen=True)),
    ("locked units cannot move", 4003, leaf_change(state=BlockState.PLEDGED)),
]

QUANTITY_ROWS: list[Row] = [
    ("a project filter names a project", 1005, lambda u: replace(u, project_id="prj_x", project_found=False)),
    ("a quantity is a positive integer", 2003, lambda u: replace(u, quantity_kg=0)),
    ("a use's standards are short while the balance is not", 5001,
     lambda u: replace(u, standards=("VCS",), candidates=(), free_any_kg=1000)),
    ("a quantity comes from the free balance", 4001, lambda u: replace(u, candidates=(leaf(),), quantity_kg=5000)),
]


def test_selection_by_serials_follows_the_holdings_table() -> None:
    assert_table_order(check_selection, SERIAL_UNITS, SELECTION_ROWS)


def test_selection_by_quantity_follows_the_holdings_table() -> None:
    # 5001 and 4001 both describe a short quantity: their pair is checked by each alone.
    assert_table_order(check_selection, UNITS, QUANTITY_ROWS[:3])
    assert_table_order(check_selection, UNITS, [*QUANTITY_ROWS[:2], QUANTITY_ROWS[3]])


def test_transfer_follows_its_rule_table() -> None:
    base = TransferFacts(actor=HOLDER, from_account_id=SRC.id, to_account_id=DST.id, source=SRC, destination=DST,
                         destination_participant_status="active", units=UNITS)
    rows: list[Row] = [
        ("the transferring account exists", 1005, lambda f: replace(f, source=None)),
        ("the caller is the holder", 1002, lambda f: replace(f, actor=replace(HOLDER, participant_id="par_z"))),
        ("the acquiring account exists", 1005, lambda f: replace(f, destination=None)),
        ("the accounts differ", 3005, lambda f: replace(f, destination=f.source)),
        ("the transferring account is active", 3004,
         lambda f: replace(f, source=replace(f.source, status=AccountStatus.SUSPENDED))),
        ("the acquiring account is active", 3004,
         lambda f: replace(f, destination=replace(f.destination, status=AccountStatus.CLOSED))),
        ("the acquiring account can hold units", 1003,
         lambda f: replace(f, destination=replace(f.destination, kind=AccountKind.RETIREMENT))),
        ("a holder's transfer reaches a holding account", 1003,
         lambda f: replace(f, destination=replace(f.destination, kind=AccountKind.BUFFER))),
        ("the acquiring participant is active", 3004, lambda f: replace(f, destination_participant_status="suspended")),
        *[(name, code, units(change)) for name, code, change in QUANTITY_ROWS if code != 5001],
    ]
    assert_table_order(check_transfer, base, rows)
    plan = check_transfer(base)
    assert [p.quantity_kg for p in plan.picks] == [10] and plan.destination == DST


def test_transfer_checks_named_serials_after_the_accounts() -> None:
    base = TransferFacts(actor=HOLDER, from_account_id=SRC.id, to_account_id=DST.id, source=SRC, destination=DST,
                         destination_participant_status="active", units=SERIAL_UNITS)
    rows: list[Row] = [
        ("the caller is the holder", 1002, lambda f: replace(f, actor=replace(HOLDER, participant_id="par_z"))),
        ("the acquiring account is active", 3004,
         lambda f: replace(f, destination=replace(f.destination, status=AccountStatus.CLOSED))),
        *[(name, code, units(change)) for name, code, change in SELECTION_ROWS],
    ]
    assert_table_order(check_transfer, base, rows)


def test_retirement_follows_its_rule_table() -> None:
    base = retire.RetirementFacts(actor=HOLDER, account_id=SRC.id, account=SRC, units=UNITS)
    rows: list[Row] = [
        ("the account exists", 1005, lambda f: replace(f, account=None)),
        ("the caller controls the account", 1002, lambda f: replace(f, actor=replace(HOLDER, role=Role.REGULATOR))),
        ("the account is active", 3004, lambda f: replace(f, account=replace(f.account, status=AccountStatus.FROZEN))),
        *[(name, code, units(change)) for name, code, change in QUANTITY_ROWS if code != 4001],
    ]
    assert_table_order(retire.check_retirement, base, rows)


def test_the_use_rows_follow_the_selection_claim_year_then_purpose() -> None:
    profile = thailand_profile()
    picks = [Pick(leaf(standard="VCS"), 1, 10)]

    def use(f: dict[str, Any]) -> None:
        retire.check_use_of(profile, f["picks"], f["purpose"], f["claim_year"])

    base = {"picks": [Pick(leaf(), 1, 10)], "purpose": Purpose.VOLUNTARY, "claim_year": 2026}
    rows: list[Row] = [
        ("claim year is a plausible year", 1003, lambda f: {**f, "claim_year": 1900}),
        ("the purpose is allowed for every unit's standard", 5001,
         lambda f: {**f, "picks": picks, "purpose": Purpose.DOMESTIC_COMPLIANCE}),
    ]
    assert_table_order(use, base, rows)


def test_cancellation_request_follows_its_rule_table() -> None:
    base = cancel.RequestFacts(actor=HOLDER, account_id=SRC.id, account=SRC, units=UNITS)
    rows: list[Row] = [
        ("a registry admin or a holding role requests", 1002,
         lambda f: replace(f, actor=replace(HOLDER, role=Role.REGULATOR))),
        ("the account exists", 1005, lambda f: replace(f, account=None)),
        ("a holder requests for its own account", 1002,
         lambda f: replace(f, actor=replace(HOLDER, participant_id="par_z"))),
        ("the account is active", 3004, lambda f: replace(f, account=replace(f.account, status=AccountStatus.CLOSED))),
        ("the units are free in the account", 4001, units(lambda u: replace(u, candidates=()))),
    ]
    assert_table_order(cancel.check_request, base, rows)
    admin = Actor("key_admin", Role.REGISTRY_ADMIN, None, "Admin")
    assert cancel.check_request(replace(base, actor=admin)).account == SRC  # an admin, on any account


def test_cancellation_approval_follows_its_rule_table() -> None:
    approver = Actor("key_approver", Role.REGISTRY_APPROVER, None, "Approver")
    pending = cancel.Pending("can_1", "pending_approval", "key_admin", "Admin")
    base = cancel.ApprovalFacts(actor=approver, cancellation_id="can_1", cancellation=pending, account=SRC,
                                units=UNITS)
    rows: list[Row] = [
        ("only a registry approver (or admin) decides", 1002,
         lambda f: replace(f, actor=replace(approver, role=Role.HOLDER))),
        ("the cancellation exists", 1005, lambda f: replace(f, cancellation=None)),
        ("only a pending request is decided", 3002,
         lambda f: replace(f, cancellation=replace(f.cancellation, status="cancelled"))),
        ("never the requester", 3003, lambda f: replace(f, actor=replace(f.actor, key_id="key_admin"))),
        ("the account is still active", 3004,
         lambda f: replace(f, account=replace(f.account, status=AccountStatus.SUSPENDED))),
        ("the units are checked again", 4001, units(lambda u: replace(u, candidates=()))),
    ]
    assert_table_order(cancel.check_approval, base, rows)
    other_admin = Actor("key_admin2", Role.REGISTRY_ADMIN, None, "Admin 2")
    with pytest.raises(RegistryError) as by_admin:
        cancel.check_approval(replace(base, actor=other_admin))
    assert by_admin.value.code == 1002  # four-eyes: an approver, never a second admin


PROJECT = Project(id="prj_1", number=1, name="P", standard="PREMIUM_T-VER", methodology="M", host_country="TH",
                  proponent_id="par_a", crediting_start="2020-01-01", crediting_end="2030-12-31",
                  status=ProjectStatus.REGISTERED)
ADMIN = Actor("key_admin", Role.REGISTRY_ADMIN, None, "Admin")


def test_issuance_request_follows_its_rule_table() -> None:
    base = issue.RequestFacts(
        actor=ADMIN, project_id=PROJECT.id, account_id=SRC.id, project=PROJECT, account=SRC,
        standard=thailand_profile().standard("PREMIUM_T-VER"), vintage=2024, period_start=date(2024, 1, 1),
        period_end=date(2024, 12, 31), quantity_kg=5_000_000, buffer_kg=None, verified_kg=None,
        overlapping_issuance_ids=(), number=1, serial_prefix=PREFIX, prefix_issued=False, prefix_in_blocks=False)
    rows: list[Row] = [
        ("only a registry admin requests", 1002, lambda f: replace(f, actor=HOLDER)),
        ("the project exists", 1005, lambda f: replace(f, project=None)),
        ("the account exists", 1005, lambda f: replace(f, account=None)),
        ("a holding or custody account", 1003, lambda f: replace(f, account=replace(f.account,
                                                                                    kind=AccountKind.BUFFER))),
        ("quantity is integer kg", 2003, lambda f: replace(f, quantity_kg=-5)),
        ("quantity is whole tonnes", 2004, lambda f: replace(f, quantity_kg=5_000_500)),
        ("the buffer is less than the quantity", 2003, lambda f: replace(f, buffer_kg=f.quantity_kg)),
        ("the project is registered", 3001,
         lambda f: replace(f, project=replace(f.project, status=ProjectStatus.VALIDATED))),
        ("the vintage lies in the crediting period", 3006, lambda f: replace(f, vintage=2019)),
        ("no period credited twice", 2005, lambda f: replace(f, overlapping_issuance_ids=("iss_0",))),
        ("not above the verified quantity", 5003, lambda f: replace(f, verified_kg=1000)),
        ("the account is active", 3004, lambda f: replace(f, account=replace(f.account,
                                                                              status=AccountStatus.SUSPENDED))),
        ("a serial is never issued twice", 2001, lambda f: replace(f, prefix_in_blocks=True)),
    ]
    assert_table_order(issue.check_issue_request, base, rows)


def test_issuance_approval_follows_its_rule_table() -> None:
    approver = Actor("key_approver", Role.REGISTRY_APPROVER, None, "Approver")
    pending = Issuance(id="iss_1", project_id=PROJECT.id, number=1, vintage=2024, period_start="2024-01-01",
                       period_end="2024-12-31", quantity_kg=5_000_000, buffer_kg=500_000, account_id=SRC.id,
                       buffer_account_id="acc_buf", status=IssuanceStatus.PENDING_APPROVAL,
                       requested_by_key="key_admin", requested_by_name="Admin", serial_prefix=PREFIX)
    base = issue.ApprovalFacts(actor=approver, issuance_id="iss_1", issuance=pending, project=PROJECT,
                               standard=thailand_profile().standard("PREMIUM_T-VER"), verified_kg=None,
                               overlapping_issuance_ids=(), account=SRC, prefix_in_blocks=False)
    rows: list[Row] = [
        ("an approver decides", 1002, lambda f: replace(f, actor=HOLDER)),
        ("the issuance exists", 1005, lambda f: replace(f, issuance=None)),
        ("only a pending request", 3002,
         lambda f: replace(f, issuance=replace(f.issuance, status=IssuanceStatus.REJECTED))),
        ("never the requester", 3003, lambda f: replace(f, actor=replace(f.actor, key_id="key_admin"))),
        ("the project is still registered", 3001,
         lambda f: replace(f, project=replace(f.project, status=ProjectStatus.VALIDATED))),
        ("no period credited twice", 2005, lambda f: replace(f, overlapping_issuance_ids=("iss_0",))),
        ("not above the verified quantity", 5003, lambda f: replace(f, verified_kg=1000)),
        ("the account is still active", 3004,
         lambda f: replace(f, account=replace(f.account, status=AccountStatus.CLOSED))),
        ("no block carries the serials", 2001, lambda f: replace(f, prefix_in_blocks=True)),
    ]
    assert_table_order(issue.check_issue_approval, base, rows)


def test_tokenize_follows_its_rule_table() -> None:
    holder = Participant("par_a", "Holder A", ParticipantKind.COMPANY, "TH", KycStatus.VERIFIED,
                         ParticipantStatus.ACTIVE, None, None)
    intermediary = Participant("par_i", "Exchange", ParticipantKind.INTERMEDIARY, "TH", KycStatus.VERIFIED,
                               ParticipantStatus.ACTIVE, "exchange", "SEC-1")
    custody = Account("acc_cus", "par_i", AccountKind.CUSTODY, AccountStatus.ACTIVE, "Custody")
    base = tokenize.TokenizeFacts(actor=HOLDER, holder_account=SRC, holder=holder, by_consent=False,
                                  intermediary=intermediary, intermediary_wallet="0xi", holder_wallet="0xh",
                                  served_by="par_i", custody_account_id=None, custody=custody, custody_accounts=1,
                                  units=UNITS)
    rows: list[Row] = [
        ("the holder's own key (no consent)", 1002,
         lambda f: replace(f, actor=replace(HOLDER, participant_id="par_z"))),
        ("an intermediary acts", 5004, lambda f: replace(f, intermediary=None)),
        ("the intermediary is an intermediary", 1002,
         lambda f: replace(f, intermediary=replace(f.intermediary, kind=ParticipantKind.COMPANY))),
        ("the intermediary holds a licence", 5005,
         lambda f: replace(f, intermediary=replace(f.intermediary, license_number=None))),
        ("the intermediary has a wallet", 5005, lambda f: replace(f, intermediary_wallet=None)),
        ("the holder is KYC-verified", 5004,
         lambda f: replace(f, holder=replace(f.holder, kyc_status=KycStatus.PENDING))),
        ("the holder has a wallet", 5004, lambda f: replace(f, holder_wallet=None)),
        ("the holder is served by the intermediary", 5004, lambda f: replace(f, served_by="par_j")),
        ("the holder's account is active", 3004,
         lambda f: replace(f, holder_account=replace(f.holder_account, status=AccountStatus.SUSPENDED))),
        ("a custody account is named when not exactly one", 1003,
         lambda f: replace(f, custody=None, custody_accounts=2)),
        ("the custody account is the intermediary's", 1003,
         lambda f: replace(f, custody=replace(f.custody, kind=AccountKind.HOLDING))),
        ("the custody account is active", 3004,
         lambda f: replace(f, custody=replace(f.custody, status=AccountStatus.SUSPENDED))),
        ("the units are free in the holder's account", 4001,
         lambda f: replace(f, units=replace(f.units, quantity_kg=5000))),
    ]
    assert_table_order(tokenize.check_tokenize, base, rows)
    # an intermediary under the holder's consent (checked by the loader) is not the holder's key
    assert tokenize.check_tokenize(replace(base, actor=Actor("key_i", Role.INTERMEDIARY, "par_i", "Exchange"),
                                           by_consent=True)).picks
    with pytest.raises(RegistryError) as missing:  # a named custody account that does not exist
        tokenize.check_tokenize(replace(base, custody=None, custody_account_id="acc_nope"))
    assert missing.value.code == 1005
