"""Compilation of the Vyper contracts of the chain layer, with an on-disk cache.

This module owns turning `contracts/*.vy` into ABI + bytecode (EVM version `cancun`, the
version both the embedded py-evm chain and a Hardhat/Besu node accept) and the check that a
deployed contract's runtime code is exactly what our source compiles to.

The cache key is SHA-256 over (source, compiler version, EVM version), so a change to any
of them compiles afresh; the first start pays ~2 s, later starts read JSON.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR: Path = Path(__file__).resolve().parent / "contracts"
EVM_VERSION: str = "cancun"
TOKEN_CONTRACT: str = "CarbonToken"


class BytecodeMismatch(RuntimeError):
    """The code deployed at an address is not what our contract source compiles to."""


@dataclass(frozen=True)
class CompiledContract:
    """A compiled contract: everything needed to deploy it and to verify a deployment."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime_bytecode: bytes
    source_sha256: str
    compiler_version: str
    evm_version: str


def _compiler_version() -> str:
    # package metadata, not `import vyper`: a cache hit should not pay the compiler import
    return importlib.metadata.version("vyper")


def source_path(name: str = TOKEN_CONTRACT) -> Path:
    return CONTRACTS_DIR / f"{name}.vy"


def source_sha256(name: str = TOKEN_CONTRACT) -> str:
    """SHA-256 (hex) of the contract source as shipped in the package."""
    return hashlib.sha256(source_path(name).read_bytes()).hexdigest()


def _cache_key(source: bytes, compiler_version: str, evm_version: str) -> str:
    digest = hashlib.sha256()
    for part in (source, compiler_version.encode(), evm_version.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _compile(source: str, evm_version: str) -> dict[str, Any]:
    import vyper
    from vyper.compiler.settings import Settings

    output: dict[str, Any] = vyper.compile_code(
        source,
        output_formats=["abi", "bytecode", "bytecode_runtime"],
        settings=Settings(evm_version=evm_version),
    )
    return output


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def compile_contract(
    cache_dir: Path | None, name: str = TOKEN_CONTRACT, evm_version: str = EVM_VERSION
) -> CompiledContract:
    """Compile `contracts/<name>.vy`, or read the result from `cache_dir` if already compiled.

    `cache_dir=None` compiles without caching.
    """
    source_bytes = source_path(name).read_bytes()
    src_sha = hashlib.sha256(source_bytes).hexdigest()
    version = _compiler_version()
    key = _cache_key(source_bytes, version, evm_version)
    cache_file = cache_dir / f"{name}-{key}.json" if cache_dir is not None else None

    if cache_file is not None and cache_file.exists():
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
            if cached.get("cache_key") == key:
                return CompiledContract(
                    name=name,
                    abi=cached["abi"],
                    bytecode=bytes.fromhex(cached["bytecode"]),
                    runtime_bytecode=bytes.fromhex(cached["runtime_bytecode"]),
                    source_sha256=src_sha,
                    compiler_version=version,
                    evm_version=evm_version,
                )
        except (ValueError, KeyError):
            pass  # a torn or foreign cache file: recompile and overwrite it

    output = _compile(source_bytes.decode("utf-8"), evm_version)
    compiled = CompiledContract(
        name=name,
        abi=output["abi"],
        bytecode=bytes.fromhex(output["bytecode"].removeprefix("0x")),
        runtime_bytecode=bytes.fromhex(output["bytecode_runtime"].removeprefix("0x")),
        source_sha256=src_sha,
        compiler_version=version,
        evm_version=evm_version,
    )
    assert compiled.bytecode and compiled.runtime_bytecode, "compiler returned empty bytecode"
    if cache_file is not None:
        _write_atomically(
            cache_file,
            json.dumps(
                {
                    "cache_key": key,
                    "name": name,
                    "source_sha256": src_sha,
                    "compiler_version": version,
                    "evm_version": evm_version,
                    "abi": compiled.abi,
                    "bytecode": compiled.bytecode.hex(),
                    "runtime_bytecode": compiled.runtime_bytecode.hex(),
                }
            ),
        )
    return compiled


def load_contract(cache_dir: Path | None) -> tuple[list[dict[str, Any]], bytes, str]:
    """(abi, deploy bytecode, source SHA-256) of the carbon token contract."""
    compiled = compile_contract(cache_dir)
    return compiled.abi, compiled.bytecode, compiled.source_sha256


def verify_runtime_code(compiled: CompiledContract, address: str, onchain_code: bytes) -> None:
    """Raise `BytecodeMismatch` unless `onchain_code` is exactly the compiled runtime bytecode."""
    if bytes(onchain_code) != compiled.runtime_bytecode:
        raise BytecodeMismatch(
            f"contract at {address} does not match {compiled.name}.vy "
            f"(source sha256 {compiled.source_sha256}, vyper {compiled.compiler_version}, "
            f"evm {compiled.evm_version}): on-chain runtime code is {len(onchain_code)} bytes, "
            f"compiled runtime code is {len(compiled.runtime_bytecode)} bytes"
            + (" (no code at that address)" if not onchain_code else "")
        )
