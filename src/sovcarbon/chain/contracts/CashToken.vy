# pragma version ~=0.4.3
"""
@title sovcarbon cash token: tokenized THB (a bank's tokenized deposit or wholesale CBDC)
@notice Balances in satang, an integer (decimals 2: 100 satang = 1 THB); there is no fraction of a satang.
        Minted and burned only by the cash issuer named at deployment (the bank, or the central bank).
        Held and moved only by identities the carbon token's identity registry admits (KYC-verified,
        served by a licensed intermediary, not frozen); the issuer holds its own float.
        No allowances: a holder LOCKS an amount for a locker (the DvP escrow); only that locker can
        release it back to the holder or deliver it to a receiver (compliance re-checked then).
@dev    Revert reasons start with the registry error code ("NNNN:"), as in CarbonToken.vy.
"""

interface IdentityRegistry:
    def eligibility(holder: address) -> uint256: view

event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Minted:
    receiver: indexed(address)
    amount: uint256
    op_id: bytes32

event Burned:
    amount: uint256
    op_id: bytes32

event Locked:
    holder: indexed(address)
    locker: indexed(address)
    amount: uint256

event Unlocked:
    holder: indexed(address)
    locker: indexed(address)
    amount: uint256

event LockDelivered:
    holder: indexed(address)
    locker: indexed(address)
    receiver: indexed(address)
    amount: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
issuer: public(address)
identity: public(address)  # the carbon token: its identity registry admits cash holders too

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)
locked: public(HashMap[address, HashMap[address, uint256]])  # [holder][locker] satang
lockedTotal: public(HashMap[address, uint256])  # [holder]; always <= balanceOf[holder]
opUsed: public(HashMap[bytes32, bool])


@deploy
def __init__(issuer: address, identity: address, name: String[32], symbol: String[8]):
    assert issuer != empty(address) and identity != empty(address), "1003:issuer and identity required"
    self.issuer = issuer
    self.identity = identity
    self.name = name
    self.symbol = symbol
    self.decimals = 2


@view
@internal
def _check_holder(holder: address):
    if holder == self.issuer:
        return
    code: uint256 = staticcall IdentityRegistry(self.identity).eligibility(holder)
    assert code != 4006, "4006:frozen"
    assert code != 5004, "5004:holder not eligible"
    assert code != 5005, "5005:intermediary not licensed"
    assert code == 0, "5004:holder not eligible"


@internal
def _move(sender: address, receiver: address, amount: uint256):
    assert amount > 0, "2003:quantity invalid"
    assert sender != receiver, "3005:same account"
    self._check_holder(sender)
    self._check_holder(receiver)
    balance: uint256 = self.balanceOf[sender]
    assert balance >= amount, "4001:insufficient balance"
    assert balance - self.lockedTotal[sender] >= amount, "4003:locked"
    self.balanceOf[sender] = balance - amount
    self.balanceOf[receiver] += amount
    log Transfer(sender=sender, receiver=receiver, value=amount)


@external
def mint(op_id: bytes32, receiver: address, amount: uint256):
    """@notice The issuer creates satang against reserves (one op id, one mint)."""
    assert msg.sender == self.issuer, "1002:forbidden"
    assert op_id != empty(bytes32) and not self.opUsed[op_id], "1004:op_id used"
    assert amount > 0, "2003:quantity invalid"
    self._check_holder(receiver)
    self.opUsed[op_id] = True
    self.balanceOf[receiver] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=receiver, value=amount)
    log Minted(receiver=receiver, amount=amount, op_id=op_id)


@external
def burn(op_id: bytes32, amount: uint256):
    """@notice The issuer destroys satang from its own free balance (holders redeem by paying it back)."""
    assert msg.sender == self.issuer, "1002:forbidden"
    assert op_id != empty(bytes32) and not self.opUsed[op_id], "1004:op_id used"
    assert amount > 0, "2003:quantity invalid"
    assert self.balanceOf[msg.sender] - self.lockedTotal[msg.sender] >= amount, "4001:insufficient balance"
    self.opUsed[op_id] = True
    self.balanceOf[msg.sender] -= amount
    self.totalSupply -= amount
    log Transfer(sender=msg.sender, receiver=empty(address), value=amount)
    log Burned(amount=amount, op_id=op_id)


@external
def transfer(receiver: address, amount: uint256) -> bool:
    self._move(msg.sender, receiver, amount)
    return True


@external
def lock(amount: uint256, locker: address):
    """@notice Lock free satang for `locker` (the DvP escrow): they stay here, out of the holder's reach."""
    assert locker != empty(address) and locker != msg.sender, "1003:invalid locker"
    assert amount > 0, "2003:quantity invalid"
    self._check_holder(msg.sender)
    assert self.balanceOf[msg.sender] - self.lockedTotal[msg.sender] >= amount, "4001:insufficient balance"
    self.locked[msg.sender][locker] += amount
    self.lockedTotal[msg.sender] += amount
    log Locked(holder=msg.sender, locker=locker, amount=amount)


@internal
def _take_lock(holder: address, amount: uint256):
    assert amount > 0, "2003:quantity invalid"
    assert self.locked[holder][msg.sender] >= amount, "4003:exceeds lock"
    self.locked[holder][msg.sender] -= amount
    self.lockedTotal[holder] -= amount


@external
def release_lock(holder: address, amount: uint256):
    """@notice The locker gives locked satang back to their holder (refunds go to the funder only)."""
    self._take_lock(holder, amount)
    log Unlocked(holder=holder, locker=msg.sender, amount=amount)


@external
def deliver_lock(holder: address, amount: uint256, receiver: address):
    """@notice The locker pays locked satang to `receiver`; both identities are checked now."""
    self._take_lock(holder, amount)
    self._move(holder, receiver, amount)
    log LockDelivered(holder=holder, locker=msg.sender, receiver=receiver, amount=amount)


@view
@external
def freeBalanceOf(holder: address) -> uint256:
    return self.balanceOf[holder] - self.lockedTotal[holder]
