"""EVM backends for the chain layer: a persistent in-process chain, or any JSON-RPC node.

This module owns *where the chain runs*:

- `EmbeddedChain`: py-evm inside this process, through eth-tester and web3's tester
  provider, persisted in one SQLite file under the data dir (`chain.sqlite3`). py-evm writes
  every trie node, header and receipt through an `AtomicDB` into `SqliteKeyValueDB`, which
  buffers the writes of one block and commits them in one SQLite transaction when the block
  is mined. A crash therefore loses at most the block being built, never half a block. The
  first start writes a genesis (dev faucet accounts funded); later starts build the same
  chain class over the same database, which resumes at the stored canonical head.
- `ExternalChain`: any EVM JSON-RPC URL (Hardhat for integration, Besu/QBFT in production).

`open_chain(chain_url, data_dir)` picks one. Both expose a `web3.Web3` instance; signing and
nonces live in `transactions.py`, contract calls in `token.py` and `settlement.py`.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

EMBEDDED_DB_FILE: str = "chain.sqlite3"
# Same id as eth-tester's `eth_chainId` endpoint answers, so signed transactions validate.
EMBEDDED_CHAIN_ID: int = 131277322940537
EMBEDDED_BLOCK_GAS_LIMIT: int = 30_000_000
EMBEDDED_FAUCET_ACCOUNTS: int = 10
EMBEDDED_FAUCET_BALANCE_WEI: int = 10**6 * 10**18
DEFAULT_RPC_TIMEOUT_S: float = 30.0

_DELETED = object()  # marks a key deleted in the not-yet-committed buffer


class ChainUnavailable(RuntimeError):
    """The configured chain cannot be reached or opened."""


class SqliteKeyValueDB:
    """py-evm key-value store (`eth.db.backends.base.BaseDB` protocol) in one SQLite table.

    Writes go to an in-memory buffer that reads see immediately; `commit()` writes the
    buffer in one transaction. The persistent backend commits once per mined block.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
        )
        self._conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        self._pending: dict[bytes, object] = {}

    # --- BaseDB protocol -------------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        pending = self._pending.get(key)
        if pending is not None:
            if pending is _DELETED:
                raise KeyError(key)
            assert isinstance(pending, bytes)
            return pending
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[bytes(key)] = _DELETED

    def _exists(self, key: bytes) -> bool:
        pending = self._pending.get(key)
        if pending is not None:
            return pending is not _DELETED
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    # --- durability ---------------------------------------------------------------------
    def commit(self) -> None:
        """Write every buffered change in one SQLite transaction."""
        if not self._pending:
            return
        upserts = [(k, v) for k, v in self._pending.items() if v is not _DELETED]
        deletes = [(k,) for k, v in self._pending.items() if v is _DELETED]
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            if upserts:
                self._conn.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", upserts)
            if deletes:
                self._conn.executemany("DELETE FROM kv WHERE k = ?", deletes)
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._pending.clear()

    def discard(self) -> None:
        """Drop buffered writes (the pending block being built)."""
        self._pending.clear()

    def get_meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self._conn.close()


@functools.cache
def _pyevm_classes() -> tuple[type[Any], type[Any], type[Any]]:
    """(chain class, eth-tester backend class, BaseDB adapter class), built once.

    Built lazily because py-evm and eth-tester are slow to import and unneeded for an
    external node.
    """
    from eth.abc import BlockHeaderAPI, VirtualMachineAPI
    from eth.chains.base import MiningChain
    from eth.db.backends.base import BaseDB
    from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
    from eth.vm.forks.prague import PragueVM
    from eth_tester.backends.pyevm.main import PyEVMBackend
    from eth_tester.backends.pyevm.serializers import (
        serialize_transaction,
        serialize_transaction_receipt,
    )
    from eth_typing import BlockNumber

    class SovcarbonDevChain(MiningChain):
        """The embedded chain: post-merge, Prague rules (runs `cancun` bytecode), constant gas limit."""

        chain_id = EMBEDDED_CHAIN_ID
        vm_configuration: tuple[tuple[BlockNumber, type[VirtualMachineAPI]], ...] = (
            (BlockNumber(0), PragueVM),
        )

        def create_header_from_parent(self, parent_header: BlockHeaderAPI, **header_params: Any) -> Any:
            header_params["gas_limit"] = parent_header.gas_limit
            return super().create_header_from_parent(parent_header, **header_params)

        def get_transaction_builder(self) -> Any:
            return super().get_vm().get_transaction_builder()

    class KVAdapter(BaseDB):
        def __init__(self, kv: SqliteKeyValueDB) -> None:
            self.kv = kv

        def __getitem__(self, key: bytes) -> bytes:
            return self.kv[key]

        def __setitem__(self, key: bytes, value: bytes) -> None:
            self.kv[key] = value

        def __delitem__(self, key: bytes) -> None:
            del self.kv[key]

        def _exists(self, key: bytes) -> bool:
            return self.kv._exists(key)

    class PersistentPyEVMBackend(PyEVMBackend):  # type: ignore[misc]
        """eth-tester backend over an existing py-evm chain whose blocks are committed to SQLite."""

        def __init__(self, chain: Any, account_keys: tuple[Any, ...], kv: SqliteKeyValueDB) -> None:
            # PyEVMBackend.__init__ would build a throwaway in-memory genesis: skip it.
            self.chain = chain
            self.account_keys = account_keys
            self._kv = kv

        def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = b"\x00" * 20) -> tuple[bytes, ...]:
            try:
                hashes: tuple[bytes, ...] = super().mine_blocks(num_blocks, coinbase)
            except BaseException:
                self._kv.discard()
                raise
            self._kv.commit()
            return hashes

        def _locate(self, transaction_hash: bytes) -> tuple[Any, Any, int] | None:
            # eth-tester scans every block from the head down; the chain db has an index.
            try:
                block_number, index = self.chain.chaindb.get_transaction_index(transaction_hash)
            except EVMTransactionNotFound:
                return None
            block = self.chain.get_canonical_block_by_number(block_number)
            return block, block.transactions[index], index

        def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
            located = self._locate(transaction_hash)
            if located is None:
                return super().get_transaction_by_hash(transaction_hash)
            block, transaction, index = located
            return serialize_transaction(block, transaction, index, False)

        def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
            located = self._locate(transaction_hash)
            if located is None:
                return super().get_transaction_receipt(transaction_hash)
            block, transaction, index = located
            receipts = block.get_receipts(self.chain.chaindb)
            return serialize_transaction_receipt(
                block, receipts, transaction, index, False, self.chain.get_vm()
            )

    return SovcarbonDevChain, PersistentPyEVMBackend, KVAdapter


class _LockedTesterProvider(EthereumTesterProvider):
    """web3 tester provider that serializes every request: py-evm is not thread-safe."""

    def __init__(self, tester: Any, lock: threading.RLock) -> None:
        super().__init__(tester)
        self._request_lock = lock

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._request_lock:
            return super().make_request(method, params)


class Chain:
    """A connected EVM. `w3` is a ready `Web3`; `faucet` (embedded only) pays for gas."""

    kind: str = "abstract"

    def __init__(self, w3: Web3, chain_id: int, data_dir: Path, faucet: LocalAccount | None) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.data_dir = data_dir
        self.faucet = faucet
        # Adapters sharing this chain serialize signing + sending through this lock.
        self.send_lock = threading.RLock()

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def close(self) -> None:
        """Release resources (the embedded database). The object is unusable afterwards."""

    def __enter__(self) -> Chain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EmbeddedChain(Chain):
    """py-evm in this process, persisted in `<data_dir>/chain.sqlite3`."""

    kind = "embedded"

    def __init__(self, data_dir: Path, fund_addresses: Iterable[str] = ()) -> None:
        from eth.db.atomic import AtomicDB
        from eth_keys.datatypes import PrivateKey
        from eth_tester import EthereumTester

        chain_class, backend_class, kv_adapter_class = _pyevm_classes()
        self._kv = SqliteKeyValueDB(data_dir / EMBEDDED_DB_FILE)
        base_db = AtomicDB(kv_adapter_class(self._kv))
        # Deterministic dev keys 1..N: the embedded chain is a local mirror, its ether has no value.
        account_keys = tuple(
            PrivateKey(i.to_bytes(32, "big")) for i in range(1, EMBEDDED_FAUCET_ACCOUNTS + 1)
        )
        if self._kv.get_meta("genesis") is None:
            from eth_tester.backends.pyevm.main import get_default_genesis_params

            state: dict[bytes, dict[str, Any]] = {}
            funded = [k.public_key.to_canonical_address() for k in account_keys]
            funded += [bytes.fromhex(a.removeprefix("0x")) for a in fund_addresses]
            for address in funded:
                state[address] = {
                    "balance": EMBEDDED_FAUCET_BALANCE_WEI,
                    "storage": {},
                    "code": b"",
                    "nonce": 0,
                }
            params = get_default_genesis_params({"gas_limit": EMBEDDED_BLOCK_GAS_LIMIT})
            py_chain = chain_class.from_genesis(base_db, params, state)
            self._kv.commit()
            self._kv.set_meta("genesis", str(int(time.time())))
            self._kv.set_meta("chain_id", str(EMBEDDED_CHAIN_ID))
        else:
            stored_id = self._kv.get_meta("chain_id")
            if stored_id != str(EMBEDDED_CHAIN_ID):
                raise ChainUnavailable(f"{self._kv.path}: chain id {stored_id}, expected {EMBEDDED_CHAIN_ID}")
            py_chain = chain_class(base_db)
        self._request_lock = threading.RLock()
        backend = backend_class(py_chain, account_keys, self._kv)
        tester = EthereumTester(backend=backend, auto_mine_transactions=True)
        w3 = Web3(_LockedTesterProvider(tester, self._request_lock))
        faucet: LocalAccount = Account.from_key(account_keys[0].to_bytes())
        super().__init__(w3, EMBEDDED_CHAIN_ID, data_dir, faucet)

    @property
    def db_path(self) -> Path:
        return self._kv.path

    def close(self) -> None:
        with self._request_lock:
            self._kv.commit()
            self._kv.close()


class ExternalChain(Chain):
    """Any EVM JSON-RPC endpoint. Transactions are signed locally by the adapter."""

    kind = "external"

    def __init__(self, url: str, data_dir: Path, timeout_s: float = DEFAULT_RPC_TIMEOUT_S) -> None:
        w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}))
        try:
            chain_id = int(w3.eth.chain_id)
        except Exception as exc:  # any transport error: connection refused, timeout, bad JSON
            raise ChainUnavailable(f"cannot reach EVM JSON-RPC node at {url}: {exc}") from exc
        self.url = url
        super().__init__(w3, chain_id, data_dir, None)


def open_chain(
    chain_url: str | None,
    data_dir: Path,
    *,
    fund_addresses: Iterable[str] = (),
    timeout_s: float = DEFAULT_RPC_TIMEOUT_S,
) -> Chain:
    """Open the chain: embedded (persistent py-evm under `data_dir`) when `chain_url` is None
    or empty, else the JSON-RPC node at `chain_url`.

    `fund_addresses` are funded at genesis of a new embedded chain (ignored otherwise).
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not chain_url:
        return EmbeddedChain(data_dir, fund_addresses)
    return ExternalChain(chain_url, data_dir, timeout_s)
