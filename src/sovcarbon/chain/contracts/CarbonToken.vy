# pragma version ~=0.4.3
"""
@title sovcarbon multi-lot carbon token
@notice ERC-1155 style permissioned token (ERC-3643 style identity registry and
        compliance). One token = 1 kgCO2e, no decimals. Each token id is a lot: a
        range of credits immobilized in the National Registry (NR). The NR's bridge
        key is the only minter, and it can never mint above the kg the NR immobilized
        for the lot. Retirement and redemption burn; pledges lock without moving.
@dev    Every revert reason starts with a stable registry error code ("NNNN:") so the
        off-chain adapter can map it (RULES.md). Every bridge-initiated change carries
        an op_id that can be used once, so a bridge that re-sends after a crash can
        never apply a change twice.
"""

interface IERC1155Receiver:
    def onERC1155Received(
        operator: address, sender: address, id: uint256, amount: uint256, data: Bytes[1024]
    ) -> bytes4: nonpayable

# ---------------------------------------------------------------- ERC-1155 events
event TransferSingle:
    operator: indexed(address)
    sender: indexed(address)
    receiver: indexed(address)
    id: uint256
    amount: uint256

event ApprovalForAll:
    account: indexed(address)
    operator: indexed(address)
    approved: bool

# ---------------------------------------------------------------- registry events
event LotOpened:
    lot_id: indexed(uint256)
    op_id: bytes32
    immobilized_kg: uint256

event LotIncreased:
    lot_id: indexed(uint256)
    op_id: bytes32
    added_kg: uint256
    immobilized_kg: uint256

event Minted:
    receiver: indexed(address)
    lot_id: indexed(uint256)
    op_id: bytes32
    amount: uint256

event IdentitySet:
    holder: indexed(address)
    intermediary: indexed(address)
    op_id: bytes32
    kyc_verified: bool

event IntermediarySet:
    intermediary: indexed(address)
    op_id: bytes32
    licensed: bool

event AddressFrozen:
    holder: indexed(address)
    op_id: bytes32
    by: address

event AddressUnfrozen:
    holder: indexed(address)
    op_id: bytes32
    by: address

event LotFrozen:
    lot_id: indexed(uint256)
    op_id: bytes32
    by: address

event LotUnfrozen:
    lot_id: indexed(uint256)
    op_id: bytes32
    by: address

event ForcedTransfer:
    sender: indexed(address)
    receiver: indexed(address)
    lot_id: indexed(uint256)
    op_id: bytes32
    amount: uint256
    agent: address

event Retired:
    holder: indexed(address)
    lot_id: indexed(uint256)
    amount: uint256
    beneficiary: String[128]
    purpose: String[32]
    claim_year: uint16
    retirement_seq: uint256

event Redeemed:
    holder: indexed(address)
    lot_id: indexed(uint256)
    amount: uint256
    nr_account: String[64]
    redemption_seq: uint256

event Pledged:
    holder: indexed(address)
    lot_id: indexed(uint256)
    pledgee: indexed(address)
    amount: uint256

event Released:
    holder: indexed(address)
    lot_id: indexed(uint256)
    pledgee: indexed(address)
    amount: uint256

event Enforced:
    holder: indexed(address)
    lot_id: indexed(uint256)
    pledgee: indexed(address)
    amount: uint256

event PledgeDelivered:
    holder: indexed(address)
    lot_id: indexed(uint256)
    pledgee: indexed(address)
    receiver: address
    amount: uint256

event BurnSettled:
    holder: indexed(address)
    lot_id: indexed(uint256)
    kind: uint256
    seq: uint256
    amount: uint256
    completed: bool
    op_id: bytes32

event RoleChanged:
    role: indexed(uint256)
    account: indexed(address)
    enabled: bool

event RoleProposed:
    role: indexed(uint256)
    account: indexed(address)
    effective_at: uint256

# ---------------------------------------------------------------- constants
ROLE_OWNER: constant(uint256) = 1
ROLE_BRIDGE: constant(uint256) = 2
ROLE_AGENT: constant(uint256) = 3
ERC165_ID: constant(bytes4) = 0x01ffc9a7
ERC1155_RECEIVED: constant(bytes4) = 0xf23a6e61
MAX_DATA_BYTES: constant(uint256) = 1024
BURN_RETIRE: constant(uint256) = 1
BURN_REDEEM: constant(uint256) = 2
REQUEST_PENDING: constant(uint256) = 1
REQUEST_COMPLETED: constant(uint256) = 2
REQUEST_RETURNED: constant(uint256) = 3
MIN_CLAIM_YEAR: constant(uint16) = 1990
MAX_CLAIM_YEAR: constant(uint16) = 2100
ACCOUNT_ID_BYTES: constant(uint256) = 36  # "acc_" + 32 lowercase hex digits (domain/ids.py)


struct BurnRequest:
    holder: address
    lot_id: uint256
    amount: uint256
    status: uint256

# ---------------------------------------------------------------- storage
# Three roles, three keys: the owner governs (role changes only, two-step and time-locked), the bridge
# mirrors the registry (lots, mints, identities, burn settlements, protective freezes), agents enforce
# (freeze, unfreeze, forced transfers). No key holds two roles.
owner: public(address)
bridge: public(address)
agents: public(HashMap[address, bool])
roleDelay: public(uint256)  # seconds between proposing a role change and accepting it
proposedAccount: public(HashMap[uint256, address])  # role -> proposed account
proposedAt: public(HashMap[uint256, uint256])  # role -> block timestamp of the proposal

balanceOf: public(HashMap[address, HashMap[uint256, uint256]])
isApprovedForAll: public(HashMap[address, HashMap[address, bool]])
totalSupply: public(HashMap[uint256, uint256])
retiredSupply: public(HashMap[uint256, uint256])
redeemedSupply: public(HashMap[uint256, uint256])

lotOpen: public(HashMap[uint256, bool])
lotImmobilized: public(HashMap[uint256, uint256])
lotFrozen: public(HashMap[uint256, bool])

# opCall[caller][op_id] = keccak256 of the call that used it: op ids are per caller (an agent cannot
# spend the bridge's) and bound to one function with its arguments (the bridge confirms on the binding)
opCall: public(HashMap[address, HashMap[bytes32, bytes32]])

kycVerified: public(HashMap[address, bool])
intermediaryOf: public(HashMap[address, address])
licensed: public(HashMap[address, bool])
frozen: public(HashMap[address, bool])

# pledged[holder][lot_id][pledgee] = kg locked for that pledgee
pledged: public(HashMap[address, HashMap[uint256, HashMap[address, uint256]]])
# pledgedTotal[holder][lot_id] = sum over pledgees; always <= balanceOf[holder][lot_id]
pledgedTotal: public(HashMap[address, HashMap[uint256, uint256]])

retirementSeq: public(uint256)
redemptionSeq: public(uint256)

# Two-step burns: retire/redeem lock the tokens (out of circulation) as a request that only the registry
# can decide; the bridge completes the burn (NR applied it) or returns the tokens (NR refused it).
burnRequests: public(HashMap[uint256, HashMap[uint256, BurnRequest]])  # [kind][seq]
pendingRetired: public(HashMap[uint256, uint256])
pendingRedeemed: public(HashMap[uint256, uint256])


@deploy
def __init__(bridge: address, agent: address, role_delay_s: uint256):
    assert bridge != empty(address) and agent != empty(address), "1003:bridge and agent required"
    assert bridge != msg.sender and agent != msg.sender and agent != bridge, "1003:one key per role"
    self.owner = msg.sender
    self.bridge = bridge
    self.agents[agent] = True
    self.roleDelay = role_delay_s
    log RoleChanged(role=ROLE_OWNER, account=msg.sender, enabled=True)
    log RoleChanged(role=ROLE_BRIDGE, account=bridge, enabled=True)
    log RoleChanged(role=ROLE_AGENT, account=agent, enabled=True)


# ================================================================ internal checks
@internal
def _only_bridge():
    assert msg.sender == self.bridge, "1002:forbidden"


@internal
def _only_owner():
    assert msg.sender == self.owner, "1002:forbidden"


@internal
def _only_agent():
    # unfreezing and forced transfers: enforcement agents only
    assert self.agents[msg.sender], "1002:forbidden"


@internal
def _only_freezer():
    # freezing protects: an agent, or the bridge when reconciliation finds a mismatch
    assert msg.sender == self.bridge or self.agents[msg.sender], "1002:forbidden"


@internal
def _use_op(op_id: bytes32, call_hash: bytes32):
    assert op_id != empty(bytes32), "1003:op_id required"
    assert self.opCall[msg.sender][op_id] == empty(bytes32), "1004:op_id used"
    self.opCall[msg.sender][op_id] = call_hash


@pure
@internal
def _valid_text(text: Bytes[128]) -> bool:
    """UTF-8 without control characters: what the registry can store and print on a certificate."""
    need: uint256 = 0
    n: uint256 = len(text)
    for i: uint256 in range(128):
        if i >= n:
            break
        c: uint256 = convert(slice(text, i, 1), uint256)
        if need > 0:
            if c < 128 or c > 191:
                return False
            need -= 1
        elif c < 32 or c == 127:
            return False
        elif c >= 128:
            if c >= 194 and c <= 223:
                need = 1
            elif c >= 224 and c <= 239:
                need = 2
            elif c >= 240 and c <= 244:
                need = 3
            else:
                return False
    return need == 0


@pure
@internal
def _valid_purpose(purpose: String[32]) -> bool:
    h: bytes32 = keccak256(purpose)
    return (h == keccak256("voluntary") or h == keccak256("domestic_compliance") or h == keccak256("ndc")
            or h == keccak256("oimp") or h == keccak256("corsia"))


@pure
@internal
def _valid_account_id(account: String[64]) -> bool:
    raw: Bytes[64] = convert(account, Bytes[64])
    if len(raw) != ACCOUNT_ID_BYTES:
        return False
    if slice(raw, 0, 4) != b"acc_":
        return False
    for i: uint256 in range(4, ACCOUNT_ID_BYTES):
        c: uint256 = convert(slice(raw, i, 1), uint256)
        if not ((c >= 48 and c <= 57) or (c >= 97 and c <= 102)):
            return False
    return True


@view
@internal
def _eligibility(holder: address) -> uint256:
    # 0 = eligible, else the registry error code
    if holder == empty(address):
        return 5004
    if self.frozen[holder]:
        return 4006
    if not self.kycVerified[holder]:
        return 5004
    intermediary: address = self.intermediaryOf[holder]
    if intermediary == empty(address) or not self.licensed[intermediary]:
        return 5005
    return 0


@view
@internal
def _check_eligible(holder: address):
    code: uint256 = self._eligibility(holder)
    assert code != 4006, "4006:frozen"
    assert code != 5004, "5004:holder not eligible"
    assert code != 5005, "5005:intermediary not licensed"


@view
@internal
def _check_lot_movable(lot_id: uint256):
    assert self.lotOpen[lot_id], "7003:lot not found"
    assert not self.lotFrozen[lot_id], "4006:frozen"


@view
@internal
def _check_free_balance(holder: address, lot_id: uint256, amount: uint256):
    assert amount > 0, "2003:quantity invalid"
    balance: uint256 = self.balanceOf[holder][lot_id]
    assert balance >= amount, "4001:insufficient balance"
    assert balance - self.pledgedTotal[holder][lot_id] >= amount, "7004:pledged"


@internal
def _notify_receiver(operator: address, sender: address, receiver: address, lot_id: uint256,
                     amount: uint256, data: Bytes[MAX_DATA_BYTES]):
    if receiver.is_contract:
        answer: bytes4 = extcall IERC1155Receiver(receiver).onERC1155Received(
            operator, sender, lot_id, amount, data
        )
        assert answer == ERC1155_RECEIVED, "7002:receiver rejected"


@internal
def _move(operator: address, sender: address, receiver: address, lot_id: uint256, amount: uint256):
    """
    @dev The single compliance path for every movement between holders (holder
         transfer, operator transfer, forced transfer, pledge enforcement).
    """
    self._check_lot_movable(lot_id)
    assert sender != receiver, "3005:same account"
    self._check_eligible(sender)
    self._check_eligible(receiver)
    self._check_free_balance(sender, lot_id, amount)
    self.balanceOf[sender][lot_id] -= amount
    self.balanceOf[receiver][lot_id] += amount
    log TransferSingle(operator=operator, sender=sender, receiver=receiver, id=lot_id, amount=amount)


@internal
def _burn(holder: address, lot_id: uint256, amount: uint256):
    self._check_lot_movable(lot_id)
    self._check_eligible(holder)
    self._check_free_balance(holder, lot_id, amount)
    self.balanceOf[holder][lot_id] -= amount
    self.totalSupply[lot_id] -= amount
    log TransferSingle(operator=holder, sender=holder, receiver=empty(address), id=lot_id, amount=amount)


# ================================================================ governance
@view
@internal
def _holds_a_role(account: address) -> bool:
    return account == self.owner or account == self.bridge or self.agents[account]


@external
def propose_role(role: uint256, account: address):
    """
    @notice Step 1 of a role change (owner, bridge, or a new agent): effective only when `account` itself
            accepts it, `roleDelay` seconds later. The registry sees the proposal on chain meanwhile.
    """
    self._only_owner()
    assert role == ROLE_OWNER or role == ROLE_BRIDGE or role == ROLE_AGENT, "1003:role unknown"
    assert account != empty(address), "1003:account required"
    assert not self._holds_a_role(account), "1003:one key per role"
    self.proposedAccount[role] = account
    self.proposedAt[role] = block.timestamp
    log RoleProposed(role=role, account=account, effective_at=block.timestamp + self.roleDelay)


@external
def cancel_role(role: uint256):
    self._only_owner()
    self.proposedAccount[role] = empty(address)
    self.proposedAt[role] = 0


@external
def accept_role(role: uint256):
    """@notice Step 2: the proposed account accepts, after the time lock."""
    account: address = self.proposedAccount[role]
    assert account != empty(address) and msg.sender == account, "1002:forbidden"
    assert block.timestamp >= self.proposedAt[role] + self.roleDelay, "1002:role change time-locked"
    assert not self._holds_a_role(account), "1003:one key per role"
    self.proposedAccount[role] = empty(address)
    self.proposedAt[role] = 0
    if role == ROLE_OWNER:
        log RoleChanged(role=ROLE_OWNER, account=self.owner, enabled=False)
        self.owner = account
    elif role == ROLE_BRIDGE:
        log RoleChanged(role=ROLE_BRIDGE, account=self.bridge, enabled=False)
        self.bridge = account
    else:
        self.agents[account] = True
    log RoleChanged(role=role, account=account, enabled=True)


@external
def revoke_agent(agent: address):
    """@notice Removing an agent is immediate (it only takes power away)."""
    self._only_owner()
    assert self.agents[agent], "1003:not an agent"
    self.agents[agent] = False
    log RoleChanged(role=ROLE_AGENT, account=agent, enabled=False)


# ================================================================ lots and minting (bridge)
@external
def open_lot(op_id: bytes32, lot_id: uint256, immobilized_kg: uint256):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 100)))
    assert not self.lotOpen[lot_id], "1003:lot already open"
    assert immobilized_kg > 0, "2003:quantity invalid"
    self.lotOpen[lot_id] = True
    self.lotImmobilized[lot_id] = immobilized_kg
    log LotOpened(lot_id=lot_id, op_id=op_id, immobilized_kg=immobilized_kg)


@external
def increase_lot(op_id: bytes32, lot_id: uint256, added_kg: uint256):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 100)))
    assert self.lotOpen[lot_id], "7003:lot not found"
    assert added_kg > 0, "2003:quantity invalid"
    self.lotImmobilized[lot_id] += added_kg
    log LotIncreased(lot_id=lot_id, op_id=op_id, added_kg=added_kg, immobilized_kg=self.lotImmobilized[lot_id])


@external
def mint(op_id: bytes32, receiver: address, lot_id: uint256, amount: uint256):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 132)))
    self._check_lot_movable(lot_id)
    assert amount > 0, "2003:quantity invalid"
    self._check_eligible(receiver)
    used_kg: uint256 = (self.totalSupply[lot_id] + self.retiredSupply[lot_id] + self.redeemedSupply[lot_id]
                        + self.pendingRetired[lot_id] + self.pendingRedeemed[lot_id])
    assert used_kg + amount <= self.lotImmobilized[lot_id], "7001:exceeds immobilized"
    self.balanceOf[receiver][lot_id] += amount
    self.totalSupply[lot_id] += amount
    log TransferSingle(operator=msg.sender, sender=empty(address), receiver=receiver, id=lot_id, amount=amount)
    log Minted(receiver=receiver, lot_id=lot_id, op_id=op_id, amount=amount)
    self._notify_receiver(msg.sender, empty(address), receiver, lot_id, amount, b"")


# ================================================================ identity registry (bridge)
@external
def set_identity(op_id: bytes32, holder: address, kyc_verified: bool, intermediary: address):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 132)))
    assert holder != empty(address), "1003:holder required"
    self.kycVerified[holder] = kyc_verified
    self.intermediaryOf[holder] = intermediary
    log IdentitySet(holder=holder, intermediary=intermediary, op_id=op_id, kyc_verified=kyc_verified)


@external
def set_intermediary(op_id: bytes32, intermediary: address, licensed: bool):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 100)))
    assert intermediary != empty(address), "1003:intermediary required"
    self.licensed[intermediary] = licensed
    log IntermediarySet(intermediary=intermediary, op_id=op_id, licensed=licensed)


# ================================================================ freezes (admin, agent, bridge)
@external
def freeze_address(op_id: bytes32, holder: address):
    self._only_freezer()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 68)))
    self.frozen[holder] = True
    log AddressFrozen(holder=holder, op_id=op_id, by=msg.sender)


@external
def unfreeze_address(op_id: bytes32, holder: address):
    self._only_agent()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 68)))
    self.frozen[holder] = False
    log AddressUnfrozen(holder=holder, op_id=op_id, by=msg.sender)


@external
def freeze_lot(op_id: bytes32, lot_id: uint256):
    self._only_freezer()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 68)))
    assert self.lotOpen[lot_id], "7003:lot not found"
    self.lotFrozen[lot_id] = True
    log LotFrozen(lot_id=lot_id, op_id=op_id, by=msg.sender)


@external
def unfreeze_lot(op_id: bytes32, lot_id: uint256):
    self._only_agent()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 68)))
    assert self.lotOpen[lot_id], "7003:lot not found"
    self.lotFrozen[lot_id] = False
    log LotUnfrozen(lot_id=lot_id, op_id=op_id, by=msg.sender)


@external
def forced_transfer(op_id: bytes32, sender: address, receiver: address, lot_id: uint256, amount: uint256):
    """
    @notice Agent path (court order, lost key). Runs exactly the compliance checks of
            a holder transfer: eligibility of both sides, freezes, pledges.
    """
    self._only_agent()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 164)))
    self._move(msg.sender, sender, receiver, lot_id, amount)
    log ForcedTransfer(sender=sender, receiver=receiver, lot_id=lot_id, op_id=op_id, amount=amount, agent=msg.sender)
    self._notify_receiver(msg.sender, sender, receiver, lot_id, amount, b"")


# ================================================================ holders: ERC-1155
@external
def setApprovalForAll(operator: address, approved: bool):
    assert operator != msg.sender, "1003:self approval"
    if approved:  # revoking is always allowed; granting only by and to eligible parties
        self._check_eligible(msg.sender)
        self._check_eligible(operator)
    self.isApprovedForAll[msg.sender][operator] = approved
    log ApprovalForAll(account=msg.sender, operator=operator, approved=approved)


@external
def safeTransferFrom(sender: address, receiver: address, id: uint256, amount: uint256,
                     data: Bytes[MAX_DATA_BYTES]):
    assert sender == msg.sender or self.isApprovedForAll[sender][msg.sender], "1002:forbidden"
    if msg.sender != sender:
        self._check_eligible(msg.sender)  # an operator acts only while itself eligible
    self._move(msg.sender, sender, receiver, id, amount)
    self._notify_receiver(msg.sender, sender, receiver, id, amount, data)


@external
def transfer(receiver: address, lot_id: uint256, amount: uint256):
    self._move(msg.sender, msg.sender, receiver, lot_id, amount)
    self._notify_receiver(msg.sender, msg.sender, receiver, lot_id, amount, b"")


@view
@external
def balanceOfBatch(accounts: DynArray[address, 128], ids: DynArray[uint256, 128]) -> DynArray[uint256, 128]:
    assert len(accounts) == len(ids), "1003:length mismatch"
    result: DynArray[uint256, 128] = []
    for i: uint256 in range(len(accounts), bound=128):
        result.append(self.balanceOf[accounts[i]][ids[i]])
    return result


@pure
@external
def supportsInterface(interface_id: bytes4) -> bool:
    """
    @notice ERC-165 only: balances are ERC-1155 style, but this is not a full ERC-1155 token (no batch
            transfers; every movement is permissioned), so it does not claim the ERC-1155 interface.
    """
    return interface_id == ERC165_ID


# ================================================================ holders: retirement, redemption
@external
def retire(lot_id: uint256, amount: uint256, beneficiary: String[128], purpose: String[32], claim_year: uint16):
    """
    @notice Request a retirement: the tokens are locked (out of circulation) until the registry decides;
            the bridge then completes the burn or returns the tokens (BurnSettled). What the contract can
            check it refuses here: purpose code, claim year, text encoding and length.
    """
    assert self._valid_purpose(purpose), "1003:purpose unknown"
    assert claim_year >= MIN_CLAIM_YEAR and claim_year <= MAX_CLAIM_YEAR, "1003:claim year out of range"
    assert self._valid_text(convert(beneficiary, Bytes[128])), "1003:beneficiary not printable UTF-8"
    self._burn(msg.sender, lot_id, amount)
    self.pendingRetired[lot_id] += amount
    seq: uint256 = self.retirementSeq + 1
    self.retirementSeq = seq
    self.burnRequests[BURN_RETIRE][seq] = BurnRequest(holder=msg.sender, lot_id=lot_id, amount=amount,
                                                      status=REQUEST_PENDING)
    log Retired(holder=msg.sender, lot_id=lot_id, amount=amount, beneficiary=beneficiary, purpose=purpose,
                claim_year=claim_year, retirement_seq=seq)


@external
def redeem(lot_id: uint256, amount: uint256, nr_account: String[64]):
    """@notice Request a redemption into an NR account (two-step, as retire)."""
    assert self._valid_account_id(nr_account), "1003:nr account id malformed"
    self._burn(msg.sender, lot_id, amount)
    self.pendingRedeemed[lot_id] += amount
    seq: uint256 = self.redemptionSeq + 1
    self.redemptionSeq = seq
    self.burnRequests[BURN_REDEEM][seq] = BurnRequest(holder=msg.sender, lot_id=lot_id, amount=amount,
                                                      status=REQUEST_PENDING)
    log Redeemed(holder=msg.sender, lot_id=lot_id, amount=amount, nr_account=nr_account, redemption_seq=seq)


@internal
def _settle(op_id: bytes32, kind: uint256, seq: uint256, complete: bool):
    self._only_bridge()
    self._use_op(op_id, keccak256(slice(msg.data, 0, 100)))
    assert kind == BURN_RETIRE or kind == BURN_REDEEM, "1003:burn kind unknown"
    req: BurnRequest = self.burnRequests[kind][seq]
    assert req.status == REQUEST_PENDING, "1003:no pending burn request"
    if kind == BURN_RETIRE:
        self.pendingRetired[req.lot_id] -= req.amount
        if complete:
            self.retiredSupply[req.lot_id] += req.amount
    else:
        self.pendingRedeemed[req.lot_id] -= req.amount
        if complete:
            self.redeemedSupply[req.lot_id] += req.amount
    if complete:
        self.burnRequests[kind][seq].status = REQUEST_COMPLETED
    else:
        # back to the holder as they were: no eligibility or freeze check (returning harms nobody)
        self.burnRequests[kind][seq].status = REQUEST_RETURNED
        self.balanceOf[req.holder][req.lot_id] += req.amount
        self.totalSupply[req.lot_id] += req.amount
        log TransferSingle(operator=msg.sender, sender=empty(address), receiver=req.holder, id=req.lot_id,
                           amount=req.amount)
    log BurnSettled(holder=req.holder, lot_id=req.lot_id, kind=kind, seq=seq, amount=req.amount,
                    completed=complete, op_id=op_id)


@external
def complete_burn(op_id: bytes32, kind: uint256, seq: uint256):
    """@notice The registry applied the request: the locked tokens are burned for good."""
    self._settle(op_id, kind, seq, True)


@external
def return_burn(op_id: bytes32, kind: uint256, seq: uint256):
    """@notice The registry refused the request: the locked tokens go back to the holder."""
    self._settle(op_id, kind, seq, False)


# ================================================================ pledges
@external
def pledge(lot_id: uint256, amount: uint256, pledgee: address):
    assert pledgee != empty(address) and pledgee != msg.sender, "1003:invalid pledgee"
    self._check_lot_movable(lot_id)
    self._check_eligible(msg.sender)
    self._check_free_balance(msg.sender, lot_id, amount)
    self.pledged[msg.sender][lot_id][pledgee] += amount
    self.pledgedTotal[msg.sender][lot_id] += amount
    log Pledged(holder=msg.sender, lot_id=lot_id, pledgee=pledgee, amount=amount)


@internal
def _take_pledge(holder: address, lot_id: uint256, amount: uint256):
    assert amount > 0, "2003:quantity invalid"
    assert self.pledged[holder][lot_id][msg.sender] >= amount, "7004:exceeds pledge"
    self.pledged[holder][lot_id][msg.sender] -= amount
    self.pledgedTotal[holder][lot_id] -= amount


@external
def release_pledge(holder: address, lot_id: uint256, amount: uint256):
    self._take_pledge(holder, lot_id, amount)
    log Released(holder=holder, lot_id=lot_id, pledgee=msg.sender, amount=amount)


@external
def enforce_pledge(holder: address, lot_id: uint256, amount: uint256):
    self._take_pledge(holder, lot_id, amount)
    self._move(msg.sender, holder, msg.sender, lot_id, amount)
    log Enforced(holder=holder, lot_id=lot_id, pledgee=msg.sender, amount=amount)
    self._notify_receiver(msg.sender, holder, msg.sender, lot_id, amount, b"")


@external
def deliver_pledge(holder: address, lot_id: uint256, amount: uint256, receiver: address):
    """
    @notice The pledgee hands pledged tokens to `receiver`: a DvP escrow settling its delivery leg (the
            seller's tokens were pledged to the escrow while escrowed), or an enforcement through a sale.
            The single compliance path (_move) re-checks the lot, both identities and freezes now.
    """
    self._take_pledge(holder, lot_id, amount)
    self._move(msg.sender, holder, receiver, lot_id, amount)
    log PledgeDelivered(holder=holder, lot_id=lot_id, pledgee=msg.sender, receiver=receiver, amount=amount)
    self._notify_receiver(msg.sender, holder, receiver, lot_id, amount, b"")


# ================================================================ views for the adapter
@view
@external
def eligibility(holder: address) -> uint256:
    """@notice 0 if the holder may hold and move tokens, else the registry error code."""
    return self._eligibility(holder)


@view
@external
def isEligible(holder: address) -> bool:
    return self._eligibility(holder) == 0


@view
@external
def freeBalanceOf(holder: address, lot_id: uint256) -> uint256:
    return self.balanceOf[holder][lot_id] - self.pledgedTotal[holder][lot_id]


@view
@external
def lotFigures(lot_ids: DynArray[uint256, 256]) -> DynArray[uint256[6], 256]:
    """
    @notice per lot [total_supply, retired, redeemed, frozen (1/0), pending retire, pending redeem]:
            reconciliation reads 256 lots per call
    """
    out: DynArray[uint256[6], 256] = []
    for lot_id: uint256 in lot_ids:
        frozen: uint256 = 0
        if self.lotFrozen[lot_id]:
            frozen = 1
        out.append([self.totalSupply[lot_id], self.retiredSupply[lot_id], self.redeemedSupply[lot_id], frozen,
                    self.pendingRetired[lot_id], self.pendingRedeemed[lot_id]])
    return out


@view
@external
def lotInfo(lot_id: uint256) -> (bool, uint256, uint256, uint256, uint256, bool):
    """@notice (open, immobilized_kg, total_supply, retired, redeemed, frozen)"""
    return (
        self.lotOpen[lot_id],
        self.lotImmobilized[lot_id],
        self.totalSupply[lot_id],
        self.retiredSupply[lot_id],
        self.redeemedSupply[lot_id],
        self.lotFrozen[lot_id],
    )
