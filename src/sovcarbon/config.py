"""Configuration: environment variables, an optional TOML file, and the country profile.

| variable | meaning | default |
|---|---|---|
| SOVCARBON_DATA_DIR | where the SQLite ledger, the registry signing key and the embedded chain live | ./data |
| SOVCARBON_DATABASE_URL | SQLAlchemy URL of the ledger (``postgresql+psycopg://...`` for PostgreSQL) | sqlite under the data dir |
| SOVCARBON_CHAIN_URL | EVM JSON-RPC URL; absent means the embedded in-process EVM | (embedded) |
| SOVCARBON_CONFIG | path of a TOML file with the keys below and a ``[profile]`` table | (none) |
| SOVCARBON_CHECKPOINT_INTERVAL | journal entries between signed checkpoints | 1000 |
| SOVCARBON_CHECKPOINT_INTERVAL_S | seconds after which written entries get a checkpoint even below the count | 60 |
| SOVCARBON_SIGNING_KEY_FILE | the registry's Ed25519 signing key (PEM, mode 0600), outside the data dir | (none) |
| SOVCARBON_ALLOW_KEY_IN_DATA_DIR | 1 = demo/tests only: keep (and generate) the key in the data dir | 0 |
| SOVCARBON_CASH_ISSUER_KEY_FILE | the cash issuer's chain key (hex), outside the data dir: settlement (serve) | (none) |
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

# T-VER rules: forestry (and CCUS) projects keep part of every issuance in the registry's buffer. The
# defaults name forestry methodologies (sectoral scope 13, Premium and Standard T-VER) at 10 %; a registry
# sets its own shares (and its CCUS methodology codes) under ``[profile.standards.<code>.buffer_shares]``.
TVER_BUFFER_SHARES: tuple[tuple[str, int], ...] = (("T-VER-P-METH-13", 10), ("T-VER-S-METH-13", 10),
                                                   ("T-VER-METH-FOR", 10))


class ConfigError(ValueError):
    """A setting the registry cannot run with. The message is one actionable line naming the setting."""


# Keys a SOVCARBON_CONFIG file may hold at top level (the variables' names without the prefix, lower case).
FILE_KEYS = frozenset({"data_dir", "database_url", "chain_url", "checkpoint_interval", "checkpoint_interval_s",
                       "signing_key_file", "allow_key_in_data_dir", "profile", "read_database_url",
                       "cash_issuer_key_file"})
PROFILE_KEYS = frozenset({"country", "party_code", "registry_name", "agency_name", "standards"})
STANDARD_KEYS = frozenset({"serial_code", "label", "domestic", "exportable", "allowed_purposes", "buffer_shares"})


def _unknown(keys: Any, known: frozenset[str], where: str) -> None:
    extra = sorted(set(keys) - known)
    if extra:
        raise ConfigError(f"unknown key {extra[0]!r} in {where} (known: {', '.join(sorted(known))})")


def _positive_int(value: Any, name: str) -> int:
    """A positive integer from the environment (text) or the TOML file (int)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    try:
        number = int(value.strip()) if isinstance(value, str) else value
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return number


def _positive_float(value: Any, name: str) -> float:
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        number = 0.0
    if isinstance(value, bool) or not number > 0 or number == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return number


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user, colon, _ = userinfo.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _database_url(url: Any, name: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    hint = "sqlite:////path/registry.sqlite or postgresql+psycopg://user@host/db"
    if not isinstance(url, str):
        raise ConfigError(f"{name} must be a database URL ({hint}), got {url!r}")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{name} is not a database URL ({hint}), got {mask_url(url)!r}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"{name} names {parsed.get_backend_name()!r}; the registry runs on sqlite or postgresql "
                          f"({hint})")
    if parsed.get_backend_name() == "sqlite" and not parsed.database:
        raise ConfigError(f"{name} names no SQLite file ({hint}), got {url!r}")
    return url


def _chain_url(url: Any, name: str) -> str | None:
    if url is None or url == "":
        return None
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise ConfigError(f"{name} must be an http(s):// or ws(s):// JSON-RPC URL, got {url!r}")
    return url


def thailand_profile() -> RegistryProfile:
    """The default profile: Thailand's TGO and its T-VER standards (configuration, not code paths)."""
    return RegistryProfile(
        country="TH",
        party_code="THA",
        registry_name="Thailand National Carbon Registry",
        agency_name="Thailand Greenhouse Gas Management Organization (TGO)",
        standards={
            "T-VER": Standard("T-VER", "TVER", "Standard T-VER", domestic=True, exportable=False,
                              allowed_purposes=ALL_DOMESTIC_PURPOSES, buffer_shares=TVER_BUFFER_SHARES),
            "PREMIUM_T-VER": Standard("PREMIUM_T-VER", "PTVER", "Premium T-VER", domestic=True, exportable=True,
                                      allowed_purposes=ALL_DOMESTIC_PURPOSES | {Purpose.OIMP, Purpose.CORSIA},
                                      buffer_shares=TVER_BUFFER_SHARES),
            "VCS": Standard("VCS", "VCS", "Verra VCS (recorded)", domestic=False, exportable=False,
                            allowed_purposes=frozenset({Purpose.VOLUNTARY})),
            "GS": Standard("GS", "GS", "Gold Standard (recorded)", domestic=False, exportable=False,
                           allowed_purposes=frozenset({Purpose.VOLUNTARY})),
        },
    )


def _buffer_shares(value: Any, where: str) -> tuple[tuple[str, int], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table of methodology prefix = percent")
    shares = []
    for prefix, pct in value.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct < 100:
            raise ConfigError(f"{where}.{prefix} must be a whole percent from 0 to 99, got {pct!r}")
        shares.append((str(prefix), pct))
    return tuple(shares)


def _standard_from_toml(code: str, s: Any, where: str) -> Standard:
    if not isinstance(s, dict):
        raise ConfigError(f"{where} must be a table")
    _unknown(s, STANDARD_KEYS, where)
    if not isinstance(s.get("serial_code"), str):
        raise ConfigError(f"{where}.serial_code is missing (the standard's serial field, e.g. \"PTVER\")")
    try:
        purposes = frozenset(Purpose(p) for p in s.get("allowed_purposes", ["voluntary"]))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.allowed_purposes must name purposes among "
                          f"{', '.join(str(p) for p in Purpose)}, got {s.get('allowed_purposes')!r}") from None
    return Standard(code=code, serial_code=s["serial_code"], label=s.get("label", code),
                    domestic=bool(s.get("domestic", True)), exportable=bool(s.get("exportable", False)),
                    allowed_purposes=purposes,
                    buffer_shares=_buffer_shares(s.get("buffer_shares", {}), f"{where}.buffer_shares"))


def _profile_from_toml(data: dict[str, Any]) -> RegistryProfile:
    base = thailand_profile()
    if not isinstance(data, dict):
        raise ConfigError("profile in SOVCARBON_CONFIG must be a table ([profile])")
    _unknown(data, PROFILE_KEYS, "[profile] of SOVCARBON_CONFIG")
    standards = dict(base.standards)
    if "standards" in data:
        if not isinstance(data["standards"], dict):
            raise ConfigError("profile.standards in SOVCARBON_CONFIG must be a table of standards")
        standards = {code: _standard_from_toml(code, s, f"profile.standards.{code}")
                     for code, s in data["standards"].items()}
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
    checkpoint_interval_s: float = 60.0
    signing_key_file: Path | None = None
    # Demo and tests only: the key may live (and be generated) beside the data it protects.
    allow_key_in_data_dir: bool = False
    # A PostgreSQL streaming replica for public reads (explorer, supply, holdings, journal): store/replica.py.
    read_database_url: str | None = None
    # The cash token's issuer key (mints/burns THB satang): bridge/settlement_setup.py. Never shown.
    cash_issuer_key_file: Path | None = None

    @property
    def signing_key_path(self) -> Path:
        """SOVCARBON_SIGNING_KEY_FILE, else the demo location inside the data dir (refused unless
        ``allow_key_in_data_dir``: see ``store.signing.load_signer``)."""
        return self.signing_key_file or self.data_dir / "registry_signing_key.pem"


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _check_bridge_environment() -> None:
    """The bridge reads its variables itself (``bridge.runtime``); check them here so that every command fails
    early with one line instead of a traceback when the bridge starts."""
    lag = os.environ.get("SOVCARBON_BRIDGE_MAX_LAG_BLOCKS", "")
    if lag != "":
        _positive_int(lag, "SOVCARBON_BRIDGE_MAX_LAG_BLOCKS")
    key = os.environ.get("SOVCARBON_BRIDGE_KEY", "")
    digits = key[2:] if key.lower().startswith("0x") else key
    if key != "" and (len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits)):
        raise ConfigError(f"SOVCARBON_BRIDGE_KEY must be a private key of 64 hex digits (optionally 0x-prefixed), "
                          f"got {len(key)} characters (value not shown)")


def _cash_issuer_key_file(value: Any, name: str) -> Path | None:
    """The cash issuer's key file: an existing file holding one private key of 64 hex digits (not shown)."""
    if value is None:
        return None
    if not isinstance(value, str | Path):
        raise ConfigError(f"{name} must be the path of a key file, got {type(value).__name__}")
    path = Path(value).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{name} names {str(path)!r}, which is not an existing file")
    try:
        key = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise ConfigError(f"{name} {str(path)!r} cannot be read as a hex key file") from None
    digits = key[2:] if key.lower().startswith("0x") else key
    if len(digits) != 64 or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ConfigError(f"{name} {str(path)!r} must hold one private key of 64 hex digits (value not shown)")
    return path


def _read_config_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"SOVCARBON_CONFIG names {path!r}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"SOVCARBON_CONFIG {path!r} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SOVCARBON_CONFIG {path!r} is not valid TOML: {exc}") from None
    _unknown(values, FILE_KEYS, f"SOVCARBON_CONFIG {path!r}")
    return values


def load_settings(**overrides: Any) -> Settings:
    """Resolve the settings: keyword overrides, then SOVCARBON_* variables, then the SOVCARBON_CONFIG file,
    then defaults. Raises ConfigError (one line naming the setting) for anything the registry cannot use."""
    file_values = _read_config_file(os.environ.get("SOVCARBON_CONFIG"))

    def pick(key: str) -> tuple[Any, str]:
        """(value, where it came from) of the first source that sets ``key``; (None, variable) if none."""
        env = f"SOVCARBON_{key.upper()}"
        if overrides.get(key) not in (None, ""):
            return overrides[key], key
        if os.environ.get(env, "") != "":
            return os.environ[env], env
        if key in file_values:
            return file_values[key], f"{key} in SOVCARBON_CONFIG"
        return None, env

    raw_dir, dir_src = pick("data_dir")
    if raw_dir is not None and not isinstance(raw_dir, str | Path):
        raise ConfigError(f"{dir_src} must be a directory path, got {raw_dir!r}")
    data_dir = Path(raw_dir or "./data").expanduser().resolve()
    raw_url, url_src = pick("database_url")
    database_url = (_database_url(raw_url, url_src) if raw_url is not None
                    else f"sqlite:///{data_dir / 'registry.sqlite'}")
    if "chain_url" in overrides:
        chain_url = _chain_url(overrides["chain_url"], "chain_url")
    else:
        chain_url = _chain_url(*pick("chain_url"))
    raw_interval, interval_src = pick("checkpoint_interval")
    interval = 1000 if raw_interval is None else _positive_int(raw_interval, interval_src)
    _check_bridge_environment()
    raw_interval_s, interval_s_src = pick("checkpoint_interval_s")
    interval_s = 60.0 if raw_interval_s is None else _positive_float(raw_interval_s, interval_s_src)
    key_file, key_file_src = pick("signing_key_file")
    if key_file is not None and not isinstance(key_file, str | Path):
        raise ConfigError(f"{key_file_src} must be the path of a PEM key file, got {key_file!r}")
    allow_key_in_data_dir = _flag(pick("allow_key_in_data_dir")[0])
    profile = _profile_from_toml(file_values["profile"]) if "profile" in file_values else thailand_profile()
    raw_read_url, read_url_src = pick("read_database_url")
    read_url = None if raw_read_url is None else _database_url(raw_read_url, read_url_src)
    if read_url is not None and not (read_url.startswith("postgresql") and database_url.startswith("postgresql")):
        raise ConfigError(f"{read_url_src} is a PostgreSQL streaming replica of a PostgreSQL database_url")
    issuer_file = _cash_issuer_key_file(*pick("cash_issuer_key_file"))
    return Settings(data_dir=data_dir, database_url=database_url, chain_url=chain_url or None,
                    checkpoint_interval=interval, profile=profile, checkpoint_interval_s=interval_s,
                    signing_key_file=Path(key_file).expanduser().resolve() if key_file else None,
                    allow_key_in_data_dir=allow_key_in_data_dir, read_database_url=read_url,
                    cash_issuer_key_file=issuer_file)


SECRET_MARKERS = ("password", "secret", "token", "private")


def describe(settings: Settings) -> dict[str, str]:
    """The resolved settings as text for ``sovcarbon config show``: URLs without passwords, secrets masked."""
    import dataclasses

    out: dict[str, str] = {"config_file": os.environ.get("SOVCARBON_CONFIG") or "(none)"}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if f.name == "profile":
            out["profile.country"] = value.country
            out["profile.party_code"] = value.party_code
            out["profile.registry_name"] = value.registry_name
            for std in value.standards.values():
                shares = ", ".join(f"{p}={pct}%" for p, pct in std.buffer_shares) or "none"
                out[f"profile.standards.{std.code}"] = (
                    f"serial {std.serial_code}, exportable={str(std.exportable).lower()}, buffer {shares}")
        elif value is None:
            out[f.name] = "(none)"
        elif isinstance(value, str) and "://" in value:
            out[f.name] = mask_url(value)
        elif f.name == "cash_issuer_key_file":
            out[f.name] = f"{value} (key not shown)"
        elif any(m in f.name for m in SECRET_MARKERS):
            out[f.name] = "*** (set)"
        else:
            out[f.name] = str(value)
    out["signing_key_path"] = str(settings.signing_key_path)
    out["bridge_key"] = ("*** (SOVCARBON_BRIDGE_KEY set)" if os.environ.get("SOVCARBON_BRIDGE_KEY")
                         else "(generated once into the data dir)")
    return out
