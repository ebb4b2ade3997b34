# pragma version ~=0.4.3
"""
@title sovcarbon delivery-versus-payment escrow
@notice Holds both legs of a trade of carbon tokens against cash tokens and moves both in one transaction,
        or neither. State machine (docs/settlement.md):

            created --fund_delivery / fund_payment--> one leg funded --the other--> both funded
            both funded --settle (block time < deadline, compliance re-checked)--> SETTLED
            delivery funded --fund_payment_and_settle (the buyer; the same checks)--> SETTLED (one transaction)
            any open state --cancel (operator or a party, before the deadline)--> CANCELLED (legs refunded)
            any open state --expire (block time >= deadline, anyone)--> EXPIRED (legs refunded, 7005)

        SETTLED, CANCELLED and EXPIRED are final. The escrow never holds tokens itself: the seller's
        carbon tokens are PLEDGED to it (CarbonToken.pledge: they cannot move, be retired, redeemed or
        pledged again while escrowed) and the buyer's satang are LOCKED for it (CashToken.lock). Funding a
        leg assigns part of what the funder pledged/locked to this escrow to one DvP: the same tokens can
        fund at most one DvP. Refunds release the pledge/lock of the funder only; settlement delivers both
        through the tokens' own compliance path (identities, licences, freezes, lot freeze) at that moment.
@dev    Revert reasons start with the registry error code ("NNNN:").
"""

interface CarbonToken:
    def pledged(holder: address, lot_id: uint256, pledgee: address) -> uint256: view
    def licensed(intermediary: address) -> bool: view
    def eligibility(holder: address) -> uint256: view
    def release_pledge(holder: address, lot_id: uint256, amount: uint256): nonpayable
    def deliver_pledge(holder: address, lot_id: uint256, amount: uint256, receiver: address): nonpayable

interface CashToken:
    def locked(holder: address, locker: address) -> uint256: view
    def release_lock(holder: address, amount: uint256): nonpayable
    def deliver_lock(holder: address, amount: uint256, receiver: address): nonpayable

STATUS_OPEN: constant(uint256) = 1
STATUS_SETTLED: constant(uint256) = 2
STATUS_CANCELLED: constant(uint256) = 3
STATUS_EXPIRED: constant(uint256) = 4

struct Dvp:
    operator: address
    seller: address
    buyer: address
    lot_id: uint256
    amount_kg: uint256
    price_satang: uint256
    deadline: uint256
    status: uint256
    delivery_funded: bool
    payment_funded: bool

event DvpCreated:
    dvp_id: indexed(bytes32)
    operator: indexed(address)
    seller: address
    buyer: address
    lot_id: uint256
    amount_kg: uint256
    price_satang: uint256
    deadline: uint256

event DeliveryFunded:
    dvp_id: indexed(bytes32)
    seller: indexed(address)
    lot_id: uint256
    amount_kg: uint256

event PaymentFunded:
    dvp_id: indexed(bytes32)
    buyer: indexed(address)
    price_satang: uint256

event DvpSettled:
    dvp_id: indexed(bytes32)
    seller: indexed(address)
    buyer: indexed(address)
    lot_id: uint256
    amount_kg: uint256
    price_satang: uint256

event DvpCancelled:
    dvp_id: indexed(bytes32)
    by: indexed(address)
    refunded_kg: uint256
    refunded_satang: uint256

event DvpExpired:
    dvp_id: indexed(bytes32)
    refunded_kg: uint256
    refunded_satang: uint256

carbon: public(address)
cash: public(address)
dvps: public(HashMap[bytes32, Dvp])
# what each funder's pledge / lock to this escrow is assigned to (funded legs of open DvPs)
assignedKg: public(HashMap[address, HashMap[uint256, uint256]])  # [seller][lot_id]
assignedSatang: public(HashMap[address, uint256])  # [buyer]
# escrow conservation: the funded legs of open DvPs, per lot and in cash
escrowedKg: public(HashMap[uint256, uint256])
escrowedSatang: public(uint256)


@deploy
def __init__(carbon: address, cash: address):
    assert carbon != empty(address) and cash != empty(address), "1003:tokens required"
    self.carbon = carbon
    self.cash = cash


@view
@internal
def _check_eligible(holder: address):
    code: uint256 = staticcall CarbonToken(self.carbon).eligibility(holder)
    assert code != 4006, "4006:frozen"
    assert code != 5005, "5005:intermediary not licensed"
    assert code == 0, "5004:holder not eligible"


@view
@internal
def _open(dvp_id: bytes32) -> Dvp:
    d: Dvp = self.dvps[dvp_id]
    assert d.status != 0, "1005:dvp not found"
    assert d.status == STATUS_OPEN, "1008:dvp is final"
    return d


@external
def create(dvp_id: bytes32, seller: address, buyer: address, lot_id: uint256, amount_kg: uint256,
           price_satang: uint256, deadline: uint256):
    """@notice A licensed intermediary opens a DvP order (the registry's order id as dvp_id)."""
    assert dvp_id != empty(bytes32), "1003:dvp id required"
    assert self.dvps[dvp_id].status == 0, "1004:dvp id used"
    assert staticcall CarbonToken(self.carbon).licensed(msg.sender), "5005:intermediary not licensed"
    assert seller != buyer, "3005:same account"
    assert amount_kg > 0 and price_satang > 0, "2003:quantity invalid"
    assert deadline > block.timestamp, "7005:deadline passed"
    self._check_eligible(seller)
    self._check_eligible(buyer)
    self.dvps[dvp_id] = Dvp(operator=msg.sender, seller=seller, buyer=buyer, lot_id=lot_id, amount_kg=amount_kg,
                            price_satang=price_satang, deadline=deadline, status=STATUS_OPEN,
                            delivery_funded=False, payment_funded=False)
    log DvpCreated(dvp_id=dvp_id, operator=msg.sender, seller=seller, buyer=buyer, lot_id=lot_id,
                   amount_kg=amount_kg, price_satang=price_satang, deadline=deadline)


@external
def fund_delivery(dvp_id: bytes32):
    """@notice The seller assigns carbon tokens it pledged to this escrow to the DvP's delivery leg."""
    d: Dvp = self._open(dvp_id)
    assert msg.sender == d.seller, "1002:forbidden"
    assert block.timestamp < d.deadline, "7005:deadline passed"
    assert not d.delivery_funded, "1008:leg already funded"
    pledged: uint256 = staticcall CarbonToken(self.carbon).pledged(d.seller, d.lot_id, self)
    assert pledged - self.assignedKg[d.seller][d.lot_id] >= d.amount_kg, "4001:tokens not pledged to the escrow"
    self.assignedKg[d.seller][d.lot_id] += d.amount_kg
    self.escrowedKg[d.lot_id] += d.amount_kg
    self.dvps[dvp_id].delivery_funded = True
    log DeliveryFunded(dvp_id=dvp_id, seller=d.seller, lot_id=d.lot_id, amount_kg=d.amount_kg)


@internal
def _fund_payment(dvp_id: bytes32) -> Dvp:
    d: Dvp = self._open(dvp_id)
    assert msg.sender == d.buyer, "1002:forbidden"
    assert block.timestamp < d.deadline, "7005:deadline passed"
    assert not d.payment_funded, "1008:leg already funded"
    locked: uint256 = staticcall CashToken(self.cash).locked(d.buyer, self)
    assert locked - self.assignedSatang[d.buyer] >= d.price_satang, "4001:cash not locked for the escrow"
    self.assignedSatang[d.buyer] += d.price_satang
    self.escrowedSatang += d.price_satang
    self.dvps[dvp_id].payment_funded = True
    log PaymentFunded(dvp_id=dvp_id, buyer=d.buyer, price_satang=d.price_satang)
    d.payment_funded = True
    return d


@external
def fund_payment(dvp_id: bytes32):
    """@notice The buyer assigns satang it locked for this escrow to the DvP's payment leg."""
    self._fund_payment(dvp_id)


@internal
def _unassign(d: Dvp):
    if d.delivery_funded:
        self.assignedKg[d.seller][d.lot_id] -= d.amount_kg
        self.escrowedKg[d.lot_id] -= d.amount_kg
    if d.payment_funded:
        self.assignedSatang[d.buyer] -= d.price_satang
        self.escrowedSatang -= d.price_satang


@internal
def _refund(d: Dvp) -> (uint256, uint256):
    self._unassign(d)
    kg: uint256 = 0
    satang: uint256 = 0
    if d.delivery_funded:
        kg = d.amount_kg
        extcall CarbonToken(self.carbon).release_pledge(d.seller, d.lot_id, kg)
    if d.payment_funded:
        satang = d.price_satang
        extcall CashToken(self.cash).release_lock(d.buyer, satang)
    return kg, satang


@internal
def _settle(dvp_id: bytes32, d: Dvp):
    assert block.timestamp < d.deadline, "7005:deadline passed"
    assert d.delivery_funded and d.payment_funded, "1008:legs not funded"
    assert staticcall CarbonToken(self.carbon).licensed(d.operator), "5005:intermediary not licensed"
    self._unassign(d)
    self.dvps[dvp_id].status = STATUS_SETTLED
    extcall CarbonToken(self.carbon).deliver_pledge(d.seller, d.lot_id, d.amount_kg, d.buyer)
    extcall CashToken(self.cash).deliver_lock(d.buyer, d.price_satang, d.seller)
    log DvpSettled(dvp_id=dvp_id, seller=d.seller, buyer=d.buyer, lot_id=d.lot_id, amount_kg=d.amount_kg,
                   price_satang=d.price_satang)


@external
def settle(dvp_id: bytes32):
    """@notice Both legs in one transaction, strictly before the deadline; compliance is re-checked by both
            tokens (seller, buyer, licences, freezes, lot freeze) and the operator's licence here."""
    self._settle(dvp_id, self._open(dvp_id))


@external
def fund_payment_and_settle(dvp_id: bytes32):
    """@notice The buyer funds the payment leg and settles in the same transaction (the delivery leg must be
            funded already): exactly fund_payment then settle, all or nothing - a failed settlement (deadline,
            compliance) reverts the funding too, and the payment leg stays unfunded."""
    self._settle(dvp_id, self._fund_payment(dvp_id))


@external
def cancel(dvp_id: bytes32):
    """@notice The operator or a party calls the trade off before the deadline; funded legs go back."""
    d: Dvp = self._open(dvp_id)
    assert msg.sender == d.operator or msg.sender == d.seller or msg.sender == d.buyer, "1002:forbidden"
    assert block.timestamp < d.deadline, "7005:deadline passed"
    self.dvps[dvp_id].status = STATUS_CANCELLED
    kg: uint256 = 0
    satang: uint256 = 0
    kg, satang = self._refund(d)
    log DvpCancelled(dvp_id=dvp_id, by=msg.sender, refunded_kg=kg, refunded_satang=satang)


@external
def expire(dvp_id: bytes32):
    """@notice At or after the deadline anyone may close an open DvP: funded legs go back (7005)."""
    d: Dvp = self._open(dvp_id)
    assert block.timestamp >= d.deadline, "1008:deadline not reached"
    self.dvps[dvp_id].status = STATUS_EXPIRED
    kg: uint256 = 0
    satang: uint256 = 0
    kg, satang = self._refund(d)
    log DvpExpired(dvp_id=dvp_id, refunded_kg=kg, refunded_satang=satang)


@external
def withdraw_unassigned(lot_id: uint256):
    """@notice A holder takes back what it pledged / locked to this escrow beyond its funded legs."""
    kg: uint256 = staticcall CarbonToken(self.carbon).pledged(msg.sender, lot_id, self) - self.assignedKg[msg.sender][lot_id]
    if kg > 0:
        extcall CarbonToken(self.carbon).release_pledge(msg.sender, lot_id, kg)
    satang: uint256 = staticcall CashToken(self.cash).locked(msg.sender, self) - self.assignedSatang[msg.sender]
    if satang > 0:
        extcall CashToken(self.cash).release_lock(msg.sender, satang)


@view
@external
def dvpState(dvp_id: bytes32) -> (uint256, bool, bool, uint256):
    """@notice (status, delivery funded, payment funded, deadline)"""
    d: Dvp = self.dvps[dvp_id]
    return d.status, d.delivery_funded, d.payment_funded, d.deadline
