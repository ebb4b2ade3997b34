"""Configuration: environment variables, an optional TOML file, and the country profile.

| variable | meaning | default |
|---|---|---|
| SOVCARBON_DATA_DIR | where the SQLite ledger, the registry signing key and the embedded chain live | ./data |
| SOVCARBON_DATABASE_URL | SQLAlchemy URL of the ledger (``postgresql+psycopg://...`` for PostgreSQL) | sqlite under the data dir |
| SOVCARBON_CHAIN_URL | EVM JSON-RPC URL; absent means the embedded in-process EVM | (embedded) |
| SOVCARBON_CONFIG | path of a TOML file with the keys below and a ``[profile]`` table | (none) |
| SOVCARBON_CHECKPOINT_INTERVAL | journal entries between signed checkpoints | 1000 |
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sovcarbon.domain.model import Purpose
from sovcarbon.domain.standards import RegistryProfile, Standard

ALL_DOMESTIC_PURPOSES = frozenset({Purpose.DOMESTIC_COMPLIANCE, Purpose.VOLUNTARY, Purpose.NDC})


def thailand_profile() -> RegistryProfile:
    """The default profile: Thailand's TGO and its T-VER standards (configuration, not code paths)."""
    return RegistryProfile(
        country="TH",
        party_code="THA",
        registry_name="Thailand National Carbon Registry",
        agency_name="Thailand Greenhouse Gas Management Organization (TGO)",
        standards={
            "T-VER": Standard("T-VER", "TVER", "Standard T-VER", domestic=True, exportable=False,
                              allowed_purposes=ALL_DOMESTIC_PURPOSES),
            "PREMIUM_T-VER": Standard("PREMIUM_T-VER", "PTVER", "Premium T-VER", domestic=True, exportable=True,
                                      allowed_purposes=ALL_DOMESTIC_PURPOSES | {Purpose.OIMP, Purpose.CORSIA}),
            "VCS": Standard("VCS", "VCS", "Verra VCS (recorded)", domestic=False, exportable=False,
                            allowed_purposes=frozenset({Purpose.VOLUNTARY})),
            "GS": Standard("GS", "GS", "Gold Standard (recorded)", domestic=False, exportable=False,
                           allowed_purposes=frozenset({Purpose.VOLUNTARY})),
        },
    )


def _profile_from_toml(data: dict[str, Any]) -> RegistryProfile:
    base = thailand_profile()
    standards = dict(base.standards)
    if "standards" in data:
        standards = {}
        for code, s in data["standards"].items():
            standards[code] = Standard(
                code=code, serial_code=s["serial_code"], label=s.get("label", code), domestic=s.get("domestic", True),
                exportable=s.get("exportable", False),
                allowed_purposes=frozenset(Purpose(p) for p in s.get("allowed_purposes", ["voluntary"])),
            )
    return RegistryProfile(
        country=data.get("country", base.country), party_code=data.get("party_code", base.party_code),
        registry_name=data.get("registry_name", base.registry_name),
        agency_name=data.get("agency_name", base.agency_name), standards=standards,
    )


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    chain_url: str | None
    checkpoint_interval: int = 1000
    profile: RegistryProfile = field(default_factory=thailand_profile)

    @property
    def signing_key_path(self) -> Path:
        return self.data_dir / "registry_signing_key.pem"


def load_settings(**overrides: Any) -> Settings:
    file_values: dict[str, Any] = {}
    config_path = os.environ.get("SOVCARBON_CONFIG")
    if config_path:
        with open(config_path, "rb") as fh:
            file_values = tomllib.load(fh)
    data_dir = Path(overrides.get("data_dir") or os.environ.get("SOVCARBON_DATA_DIR")
                    or file_values.get("data_dir") or "./data").resolve()
    database_url = (overrides.get("database_url") or os.environ.get("SOVCARBON_DATABASE_URL")
                    or file_values.get("database_url") or f"sqlite:///{data_dir / 'registry.sqlite'}")
    chain_url = overrides.get("chain_url", os.environ.get("SOVCARBON_CHAIN_URL") or file_values.get("chain_url"))
    interval = int(overrides.get("checkpoint_interval") or os.environ.get("SOVCARBON_CHECKPOINT_INTERVAL")
                   or file_values.get("checkpoint_interval") or 1000)
    profile = _profile_from_toml(file_values["profile"]) if "profile" in file_values else thailand_profile()
    return Settings(data_dir=data_dir, database_url=database_url, chain_url=chain_url or None,
                    checkpoint_interval=interval, profile=profile)
