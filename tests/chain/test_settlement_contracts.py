"""The settlement contracts on chain (issue: settlement, items 1 and 2): the cash token (THB in satang,
issuer-only mint/burn, identity-registry holders) and the DvP escrow (both legs or neither, deadline
boundaries, terminal states, refunds to the funder only, compliance re-checked at settlement, escrowed
tokens locked, two DvPs racing for the same tokens). Embedded py-evm always, the external node when set.

Each backend gets its own chain here: the deadline tests move the chain's clock forward."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from chain_world import CHAIN_URL_ENV, EXTERNAL_CONFIGURED, ROLE_DELAY_S, backend_args
from eth_account import Account
from eth_account.signers.local import LocalAccount

from sovcarbon.chain import CarbonTokenChain, ChainRejected, make_op_id, open_chain
from sovcarbon.chain.settlement import (
    DVP_CANCELLED,
    DVP_EXPIRED,
    DVP_OPEN,
    DVP_SETTLED,
    CashTokenChain,
    DvpEscrowChain,
    set_next_block_timestamp,
)

BACKENDS = ["embedded", pytest.param("external", marks=pytest.mark.skipif(
    not EXTERNAL_CONFIGURED, reason=f"{CHAIN_URL_ENV} not set"))]
PRICE_SATANG_PER_T = 25_000  # 250 THB per tonne
GAS_WEI = 10**17


@dataclass
class Settle:
    token: CarbonTokenChain
    cash: CashTokenChain
    escrow: DvpEscrowChain
    issuer: LocalAccount
    operator: LocalAccount
    intermediary: str

    def op(self) -> bytes:
        return make_op_id(uuid.uuid4().hex)

    def holder(self, kyc: bool = True) -> LocalAccount:
        account: LocalAccount = Account.create()
        self.token.fund_gas(account.address, GAS_WEI)
        self.token.set_identity(self.op(), account.address, kyc, self.intermediary)
        return account

    def lot(self, seller: LocalAccount, kg: int) -> int:
        lot_id = 5_000_000 + uuid.uuid4().int % 10**9
        self.token.open_lot(self.op(), lot_id, kg)
        self.token.mint(self.op(), seller.address, lot_id, kg)
        return lot_id

    def now_s(self) -> int:
        return int(self.token.w3.eth.get_block("latest")["timestamp"])

    def trade(self, kg: int = 10_000, deadline_in_s: int = 3600) -> tuple[bytes, LocalAccount, LocalAccount, int, int]:
        """A DvP created and both legs funded: (id, seller, buyer, lot, price in satang)."""
        seller, buyer = self.holder(), self.holder()
        lot_id = self.lot(seller, kg)
        price = kg * PRICE_SATANG_PER_T // 1000
        self.cash.mint(self.issuer, self.op(), buyer.address, price)
        dvp_id = self.op()
        self.escrow.create(self.operator, dvp_id, seller.address, buyer.address, lot_id, kg, price,
                           self.now_s() + deadline_in_s)
        self.token.pledge(seller, lot_id, kg, self.escrow.address)
        self.escrow.fund_delivery(seller, dvp_id)
        self.cash.lock(buyer, price, self.escrow.address)
        self.escrow.fund_payment(buyer, dvp_id)
        return dvp_id, seller, buyer, lot_id, price


@pytest.fixture(scope="module", params=BACKENDS)
def st(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settle]:
    backend: str = request.param
    chain_url, bridge_key = backend_args(backend)
    data_dir = tmp_path_factory.mktemp(f"settle-{backend}")
    cache = tmp_path_factory.mktemp("settle-cache")
    chain = open_chain(chain_url, data_dir)
    token = CarbonTokenChain(chain, bridge_key, agent_key=Account.create().key.hex(),
                             owner_key=Account.create().key.hex(), role_delay_s=ROLE_DELAY_S, cache_dir=cache)
    token.deploy_or_load(data_dir / "deployment.json")
    issuer: LocalAccount = Account.create()
    operator: LocalAccount = Account.create()
    intermediary = Account.create().address
    token.set_intermediary(make_op_id(uuid.uuid4().hex), intermediary, True)
    token.set_intermediary(make_op_id(uuid.uuid4().hex), operator.address, True)
    token.fund_gas(operator.address, GAS_WEI)
    cash = CashTokenChain(token, cache_dir=cache)
    cash.deploy_cash(issuer)
    escrow = DvpEscrowChain(token, cache_dir=cache)
    escrow.deploy_escrow(issuer, cash.address)
    yield Settle(token, cash, escrow, issuer, operator, intermediary)
    chain.close()


def _refused(code: int, call: object) -> ChainRejected:
    assert callable(call)
    with pytest.raises(ChainRejected) as refused:
        call()
    assert refused.value.code == code, refused.value
    return refused.value


# ------------------------------------------------------------------------------------------ cash token
def test_cash_is_integer_satang_minted_and_burned_by_the_issuer_only(st: Settle) -> None:
    assert int(st.cash.call("decimals", [])[0]) == 2
    alice, bob, outsider = st.holder(), st.holder(), st.holder(kyc=False)
    before = st.cash.total_supply()
    st.cash.mint(st.issuer, st.op(), alice.address, 1_000_001)  # 10,000.01 THB
    _refused(1002, lambda: st.cash.mint(alice, st.op(), alice.address, 5))
    _refused(5004, lambda: st.cash.mint(st.issuer, st.op(), outsider.address, 5))
    op = st.op()
    st.cash.mint(st.issuer, op, bob.address, 7)
    _refused(1004, lambda: st.cash.mint(st.issuer, op, bob.address, 7))  # one op id, one mint
    _refused(5004, lambda: st.cash.transfer(alice, outsider.address, 1))  # holders: the identity registry
    st.cash.transfer(alice, st.issuer.address, 1)  # redemption: paid back to the issuer ...
    st.cash.burn(st.issuer, st.op(), 1)  # ... which burns its own float
    _refused(1002, lambda: st.cash.burn(alice, st.op(), 1))
    st.token.freeze_address(st.op(), alice.address)
    _refused(4006, lambda: st.cash.transfer(alice, bob.address, 1))
    assert st.cash.balance_of(alice.address) == 1_000_000 and st.cash.balance_of(bob.address) == 7
    assert st.cash.total_supply() == before + 1_000_007


# ------------------------------------------------------------------------------------------ DvP
def test_dvp_settles_both_legs_in_one_transaction(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=10_000)
    assert st.escrow.state(dvp_id).status == DVP_OPEN
    assert st.escrow.escrowed_kg(lot_id) == 10_000
    result = st.escrow.settle(st.holder(), dvp_id)  # anyone may trigger it
    assert st.escrow.state(dvp_id).status == DVP_SETTLED
    assert st.token.balance_of(buyer.address, lot_id) == 10_000 and st.token.balance_of(seller.address, lot_id) == 0
    assert st.cash.balance_of(seller.address) == price and st.cash.balance_of(buyer.address) == 0
    assert st.token.pledged_total(seller.address, lot_id) == 0 and st.cash.locked(buyer.address, st.escrow.address) == 0
    assert st.escrow.escrowed_kg(lot_id) == 0
    names = [e.name for e in st.escrow.events(result.block_number or 0, result.block_number or 0)]
    assert names == ["DvpSettled"]
    _refused(1008, lambda: st.escrow.settle(st.operator, dvp_id))  # double settle
    _refused(1008, lambda: st.escrow.cancel(st.operator, dvp_id))  # terminal


def test_only_a_licensed_intermediary_creates_and_legs_need_their_funders(st: Settle) -> None:
    seller, buyer = st.holder(), st.holder()
    lot_id = st.lot(seller, 1_000)
    stranger = st.holder()
    _refused(5005, lambda: st.escrow.create(stranger, st.op(), seller.address, buyer.address, lot_id, 1_000, 25_000,
                                            st.now_s() + 600))
    _refused(7005, lambda: st.escrow.create(st.operator, st.op(), seller.address, buyer.address, lot_id, 1_000,
                                            25_000, st.now_s()))
    dvp_id = st.op()
    st.escrow.create(st.operator, dvp_id, seller.address, buyer.address, lot_id, 1_000, 25_000, st.now_s() + 600)
    _refused(1004, lambda: st.escrow.create(st.operator, dvp_id, seller.address, buyer.address, lot_id, 1_000,
                                            25_000, st.now_s() + 600))
    _refused(4001, lambda: st.escrow.fund_delivery(seller, dvp_id))  # nothing pledged to the escrow
    _refused(1002, lambda: st.escrow.fund_delivery(buyer, dvp_id))
    _refused(1008, lambda: st.escrow.settle(st.operator, dvp_id))  # legs not funded
    st.escrow.cancel(seller, dvp_id)
    assert st.escrow.state(dvp_id).status == DVP_CANCELLED


def test_escrowed_tokens_cannot_move_retire_pledge_or_fund_a_second_dvp(st: Settle) -> None:
    seller, buyer, bank = st.holder(), st.holder(), st.holder()
    lot_id = st.lot(seller, 5_000)
    st.cash.mint(st.issuer, st.op(), buyer.address, 1_000_000)
    first, second = st.op(), st.op()
    for dvp_id in (first, second):  # two DvPs over the same 5,000 kg
        st.escrow.create(st.operator, dvp_id, seller.address, buyer.address, lot_id, 5_000, 125_000,
                         st.now_s() + 600)
    st.token.pledge(seller, lot_id, 5_000, st.escrow.address)
    st.escrow.fund_delivery(seller, first)
    _refused(4001, lambda: st.escrow.fund_delivery(seller, second))  # at most one holds them
    _refused(7004, lambda: st.token.transfer(seller, buyer.address, lot_id, 1))
    _refused(7004, lambda: st.token.retire(seller, lot_id, 1, "Seller", "voluntary", 2025))
    _refused(7004, lambda: st.token.pledge(seller, lot_id, 1, bank.address))
    _refused(7004, lambda: st.token.redeem(seller, lot_id, 1, "acc_" + "0" * 32))
    # the holder cannot take an escrowed pledge back; only the escrow's refund path does
    st.escrow.withdraw_unassigned(seller, lot_id)
    assert st.token.pledged(seller.address, lot_id, st.escrow.address) == 5_000
    st.escrow.cancel(st.operator, first)
    assert st.token.pledged_total(seller.address, lot_id) == 0  # refunded to the funder
    assert st.token.balance_of(seller.address, lot_id) == 5_000


def test_a_leg_that_fails_compliance_at_settlement_moves_nothing(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=2_000)
    st.token.freeze_address(st.op(), buyer.address)  # e.g. a sanctions hit after funding
    _refused(4006, lambda: st.escrow.settle(st.operator, dvp_id))
    assert st.token.balance_of(seller.address, lot_id) == 2_000 and st.cash.balance_of(buyer.address) == price
    assert st.escrow.state(dvp_id).status == DVP_OPEN
    st.token.set_identity(st.op(), seller.address, False, st.intermediary)  # seller loses its KYC too
    st.token.unfreeze_address(st.op(), buyer.address, by=st.token.agent)
    _refused(5004, lambda: st.escrow.settle(st.operator, dvp_id))
    st.token.set_identity(st.op(), seller.address, True, st.intermediary)
    st.token.set_intermediary(st.op(), st.operator.address, False)  # the operator's licence withdrawn
    try:
        _refused(5005, lambda: st.escrow.settle(st.operator, dvp_id))
    finally:
        st.token.set_intermediary(st.op(), st.operator.address, True)
    st.escrow.settle(st.operator, dvp_id)
    assert st.token.balance_of(buyer.address, lot_id) == 2_000


@pytest.mark.parametrize("offset_s, settles", [(-1, True), (0, False), (1, False)],
                         ids=["one-second-before", "at", "after"])
def test_deadline_boundaries(st: Settle, offset_s: int, settles: bool) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=1_000, deadline_in_s=120)
    deadline = st.escrow.state(dvp_id).deadline
    set_next_block_timestamp(st.token, deadline + offset_s)
    if settles:
        result = st.escrow.settle(st.operator, dvp_id)
        assert int(st.token.w3.eth.get_block(result.block_number or 0)["timestamp"]) == deadline - 1
        _refused(1008, lambda: st.escrow.expire(st.operator, dvp_id))
        assert st.token.balance_of(buyer.address, lot_id) == 1_000
        return
    _refused(7005, lambda: st.escrow.settle(st.operator, dvp_id))
    _refused(7005, lambda: st.escrow.cancel(st.operator, dvp_id))
    result = st.escrow.expire(st.holder(), dvp_id)
    assert int(st.token.w3.eth.get_block(result.block_number or 0)["timestamp"]) >= deadline
    assert st.escrow.state(dvp_id).status == DVP_EXPIRED
    assert st.token.balance_of(seller.address, lot_id) == 1_000 and st.token.pledged_total(seller.address, lot_id) == 0
    assert st.cash.balance_of(buyer.address) == price and st.cash.free_balance_of(buyer.address) == price
    _refused(1008, lambda: st.escrow.settle(st.operator, dvp_id))  # settle after expiry: final


def test_expire_before_the_deadline_and_settle_after_cancel_are_refused(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=1_000)
    _refused(1008, lambda: st.escrow.expire(st.operator, dvp_id))
    _refused(1002, lambda: st.escrow.cancel(st.holder(), dvp_id))  # neither operator nor party
    st.escrow.cancel(buyer, dvp_id)
    _refused(1008, lambda: st.escrow.settle(st.operator, dvp_id))
    assert st.cash.free_balance_of(buyer.address) == price and st.token.balance_of(seller.address, lot_id) == 1_000
    assert st.escrow.escrowed_satang() == 0 or st.escrow.escrowed_kg(lot_id) == 0


def test_a_frozen_lot_at_settlement_moves_nothing(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=3_000)
    st.token.freeze_lot(st.op(), lot_id)  # e.g. a reconciliation mismatch after both legs were funded
    try:
        _refused(4006, lambda: st.escrow.settle(st.operator, dvp_id))
        assert st.token.balance_of(seller.address, lot_id) == 3_000 and st.token.balance_of(buyer.address, lot_id) == 0
        assert st.cash.balance_of(buyer.address) == price and st.cash.balance_of(seller.address) == 0
        assert st.escrow.state(dvp_id).status == DVP_OPEN and st.escrow.escrowed_kg(lot_id) == 3_000
    finally:
        st.token.unfreeze_lot(st.op(), lot_id, by=st.token.agent)
    st.escrow.settle(st.operator, dvp_id)
    assert st.token.balance_of(buyer.address, lot_id) == 3_000 and st.cash.balance_of(seller.address) == price


def test_a_seller_frozen_after_funding_blocks_settlement_but_not_the_refund(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=1_500)
    st.token.freeze_address(st.op(), seller.address)
    _refused(4006, lambda: st.escrow.settle(st.operator, dvp_id))
    st.escrow.cancel(buyer, dvp_id)  # the refund path moves nothing between parties: it is not blocked
    assert st.escrow.state(dvp_id).status == DVP_CANCELLED
    assert st.token.balance_of(seller.address, lot_id) == 1_500 and st.token.pledged_total(seller.address, lot_id) == 0
    assert st.cash.free_balance_of(buyer.address) == price


@pytest.mark.parametrize("offset_s, refunds_by", [(-1, "cancel"), (0, "expire"), (1, "expire")],
                         ids=["one-second-before", "at", "after"])
def test_refund_deadline_boundaries(st: Settle, offset_s: int, refunds_by: str) -> None:
    """Refund at the deadline's three seconds: before it only a cancel (by a party) refunds and expiry is
    refused; at and after it expiry refunds (anyone) and cancel is refused (7005)."""
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=1_000, deadline_in_s=120)
    deadline = st.escrow.state(dvp_id).deadline
    anyone = st.holder()
    if refunds_by == "cancel":
        set_next_block_timestamp(st.token, deadline - 2)
        _refused(1008, lambda: st.escrow.expire(anyone, dvp_id))  # not yet
        set_next_block_timestamp(st.token, deadline + offset_s)
        result = st.escrow.cancel(seller, dvp_id)
        final = DVP_CANCELLED
    else:
        set_next_block_timestamp(st.token, deadline + offset_s)
        _refused(7005, lambda: st.escrow.cancel(seller, dvp_id))
        result = st.escrow.expire(anyone, dvp_id)
        final = DVP_EXPIRED
    mined_at = int(st.token.w3.eth.get_block(result.block_number or 0)["timestamp"])
    assert mined_at == deadline - 1 if refunds_by == "cancel" else mined_at >= deadline
    assert st.escrow.state(dvp_id).status == final
    assert st.token.balance_of(seller.address, lot_id) == 1_000 and st.token.pledged_total(seller.address, lot_id) == 0
    assert st.cash.free_balance_of(buyer.address) == price and st.cash.balance_of(seller.address) == 0


def test_refunds_go_to_the_funder_only(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = st.trade(kg=4_000)
    stranger = st.holder()
    # nobody can take a funded leg back: not a stranger, not the counterparty, not the funder itself
    for who in (stranger, buyer, seller):
        st.escrow.withdraw_unassigned(who, lot_id)
    assert st.token.pledged(seller.address, lot_id, st.escrow.address) == 4_000
    assert st.cash.locked(buyer.address, st.escrow.address) == price
    assert st.token.balance_of(stranger.address, lot_id) == 0 and st.cash.balance_of(stranger.address) == 0
    st.escrow.cancel(buyer, dvp_id)  # cancelled by the buyer: the tokens still go back to the seller
    assert st.token.balance_of(seller.address, lot_id) == 4_000
    assert st.token.free_balance_of(seller.address, lot_id) == 4_000
    assert st.token.balance_of(buyer.address, lot_id) == 0
    assert st.cash.free_balance_of(buyer.address) == price and st.cash.balance_of(seller.address) == 0
    # what a holder pledged beyond its funded legs comes back to it alone, by its own call
    st.token.pledge(seller, lot_id, 1_000, st.escrow.address)
    st.escrow.withdraw_unassigned(stranger, lot_id)
    assert st.token.pledged(seller.address, lot_id, st.escrow.address) == 1_000
    st.escrow.withdraw_unassigned(seller, lot_id)
    assert st.token.pledged_total(seller.address, lot_id) == 0
    assert st.token.free_balance_of(seller.address, lot_id) == 4_000


def test_two_dvps_racing_for_the_same_tokens_one_holds_them_until_it_is_final(st: Settle) -> None:
    seller, buyer = st.holder(), st.holder()
    lot_id = st.lot(seller, 8_000)
    first, second = st.op(), st.op()
    for dvp_id in (first, second):  # 2 x 5,000 kg over 8,000 kg pledged
        st.escrow.create(st.operator, dvp_id, seller.address, buyer.address, lot_id, 5_000, 125_000,
                         st.now_s() + 600)
    st.token.pledge(seller, lot_id, 8_000, st.escrow.address)
    # both funding transactions sent before either is awaited: the chain orders them, exactly one wins
    sent = [st.escrow.send(seller, "fund_delivery", [dvp_id], wait=False) for dvp_id in (first, second)]
    statuses = [int(st.token._receipt(s.tx_hash, 60)["status"]) for s in sent]
    assert statuses == [1, 0], statuses  # one nonce order: the first sent is the first mined
    _refused(4001, lambda: st.escrow.fund_delivery(seller, second))
    assert st.escrow.escrowed_kg(lot_id) == 5_000
    assert (st.escrow.state(first).delivery_funded, st.escrow.state(second).delivery_funded) == (True, False)
    st.escrow.cancel(st.operator, first)  # the first is final: its pledge is released to the seller ...
    assert st.token.pledged(seller.address, lot_id, st.escrow.address) == 3_000
    st.token.pledge(seller, lot_id, 2_000, st.escrow.address)  # ... who can pledge them again for the second
    st.escrow.fund_delivery(seller, second)
    assert st.escrow.escrowed_kg(lot_id) == 5_000 and st.escrow.state(second).delivery_funded


def test_terminal_states_are_final(st: Settle) -> None:
    settled, s_seller, s_buyer, _, _ = st.trade(kg=500)
    st.escrow.settle(st.operator, settled)
    cancelled, c_seller, c_buyer, _, _ = st.trade(kg=500)
    st.escrow.cancel(st.operator, cancelled)
    expired, e_seller, e_buyer, _, _ = st.trade(kg=500, deadline_in_s=60)
    set_next_block_timestamp(st.token, st.escrow.state(expired).deadline)
    st.escrow.expire(st.operator, expired)
    for dvp_id, final, seller, buyer in ((settled, DVP_SETTLED, s_seller, s_buyer),
                                         (cancelled, DVP_CANCELLED, c_seller, c_buyer),
                                         (expired, DVP_EXPIRED, e_seller, e_buyer)):
        _refused(1008, lambda d=dvp_id: st.escrow.settle(st.operator, d))
        _refused(1008, lambda d=dvp_id: st.escrow.cancel(st.operator, d))
        _refused(1008, lambda d=dvp_id: st.escrow.expire(st.operator, d))
        _refused(1008, lambda d=dvp_id, s=seller: st.escrow.fund_delivery(s, d))
        _refused(1008, lambda d=dvp_id, b=buyer: st.escrow.fund_payment(b, d))
        assert st.escrow.state(dvp_id).status == final


def _delivery_funded(st: Settle, kg: int, deadline_in_s: int = 3600) -> tuple[bytes, LocalAccount, LocalAccount,
                                                                              int, int]:
    """A DvP with the delivery leg funded and the buyer's cash locked for the escrow, payment leg not funded."""
    seller, buyer = st.holder(), st.holder()
    lot_id = st.lot(seller, kg)
    price = kg * PRICE_SATANG_PER_T // 1000
    st.cash.mint(st.issuer, st.op(), buyer.address, price)
    dvp_id = st.op()
    st.escrow.create(st.operator, dvp_id, seller.address, buyer.address, lot_id, kg, price,
                     st.now_s() + deadline_in_s)
    st.token.pledge(seller, lot_id, kg, st.escrow.address)
    st.escrow.fund_delivery(seller, dvp_id)
    st.cash.lock(buyer, price, st.escrow.address)
    return dvp_id, seller, buyer, lot_id, price


def test_the_buyer_funds_and_settles_in_one_transaction(st: Settle) -> None:
    dvp_id, seller, buyer, lot_id, price = _delivery_funded(st, 6_000)
    _refused(1002, lambda: st.escrow.fund_payment_and_settle(seller, dvp_id))  # the buyer's leg only
    result = st.escrow.fund_payment_and_settle(buyer, dvp_id)
    block = result.block_number or 0
    assert [e.name for e in st.escrow.events(block, block)] == ["PaymentFunded", "DvpSettled"]
    assert st.escrow.state(dvp_id).status == DVP_SETTLED
    assert st.token.balance_of(buyer.address, lot_id) == 6_000 and st.cash.balance_of(seller.address) == price
    assert st.cash.locked(buyer.address, st.escrow.address) == 0 and st.escrow.escrowed_kg(lot_id) == 0
    _refused(1008, lambda: st.escrow.fund_payment_and_settle(buyer, dvp_id))  # double settle
    _refused(1008, lambda: st.escrow.settle(st.operator, dvp_id))


def test_fund_and_settle_is_all_or_nothing(st: Settle) -> None:
    # delivery leg not funded: the payment leg is not funded either
    seller, buyer = st.holder(), st.holder()
    lot_id = st.lot(seller, 1_000)
    st.cash.mint(st.issuer, st.op(), buyer.address, 25_000)
    unfunded = st.op()
    st.escrow.create(st.operator, unfunded, seller.address, buyer.address, lot_id, 1_000, 25_000, st.now_s() + 600)
    st.cash.lock(buyer, 25_000, st.escrow.address)
    _refused(1008, lambda: st.escrow.fund_payment_and_settle(buyer, unfunded))
    assert not st.escrow.state(unfunded).payment_funded
    # compliance fails at settlement (lot frozen): nothing funded, nothing moved; the plain path still works
    dvp_id, seller, buyer, lot_id, price = _delivery_funded(st, 2_000)
    st.token.freeze_lot(st.op(), lot_id)
    try:
        _refused(4006, lambda: st.escrow.fund_payment_and_settle(buyer, dvp_id))
    finally:
        st.token.unfreeze_lot(st.op(), lot_id, by=st.token.agent)
    assert not st.escrow.state(dvp_id).payment_funded and st.escrow.state(dvp_id).status == DVP_OPEN
    assert st.cash.balance_of(buyer.address) == price and st.token.balance_of(seller.address, lot_id) == 2_000
    # at the deadline: 7005, the payment leg stays unfunded, expiry refunds the delivery leg only
    late, l_seller, l_buyer, l_lot, l_price = _delivery_funded(st, 1_000, deadline_in_s=60)
    deadline = st.escrow.state(late).deadline
    set_next_block_timestamp(st.token, deadline)
    _refused(7005, lambda: st.escrow.fund_payment_and_settle(l_buyer, late))
    assert not st.escrow.state(late).payment_funded
    st.escrow.expire(st.operator, late)
    assert st.token.free_balance_of(l_seller.address, l_lot) == 1_000
    assert st.cash.locked(l_buyer.address, st.escrow.address) == l_price  # its own lock, never assigned
    st.escrow.withdraw_unassigned(l_buyer, l_lot)
    assert st.cash.free_balance_of(l_buyer.address) == l_price
