"""The ``sovcarbon`` command line: thin commands over the same services as the API."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from sovcarbon.config import ConfigError, Settings, load_settings, mask_url
from sovcarbon.domain.errors import RegistryError
from sovcarbon.domain.model import Role
from sovcarbon.services.registry import Registry

app = typer.Typer(help="sovcarbon: the national carbon registry of record.", no_args_is_help=True)
admin_app = typer.Typer(help="Operator commands (run on the registry host).", no_args_is_help=True)
journal_app = typer.Typer(help="The hash-chained journal.", no_args_is_help=True)
certificate_app = typer.Typer(help="Retirement certificates.", no_args_is_help=True)
app.add_typer(admin_app, name="admin")
app.add_typer(journal_app, name="journal")
app.add_typer(certificate_app, name="certificate")
report_app = typer.Typer(help="Reports generated from the ledger.", no_args_is_help=True)
app.add_typer(report_app, name="report")
config_app = typer.Typer(help="The resolved configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
peers_app = typer.Typer(help="Peer registries: cross-border transfers (docs/interop.md).", no_args_is_help=True)
app.add_typer(peers_app, name="peers")
dvp_app = typer.Typer(help="Delivery versus payment orders (docs/settlement.md).", no_args_is_help=True)
app.add_typer(dvp_app, name="dvp")
liens_app = typer.Typer(help="Pledges of units and tokens to banks (docs/settlement.md).", no_args_is_help=True)
app.add_typer(liens_app, name="liens")
err = Console(stderr=True)


def _fail(message: str) -> NoReturn:
    """One actionable line on stderr, exit 2 (a usage or configuration problem, not a broken ledger)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sovcarbon")
    except PackageNotFoundError:
        return "unknown"


def _version_option(value: bool) -> None:
    if value:
        typer.echo(f"sovcarbon {_version()}")
        raise typer.Exit(0)


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_version_option,
                                                help="print the version and exit")] = False) -> None:
    """sovcarbon: the national carbon registry of record."""


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def registry_exists(settings: Settings) -> bool:
    """A ledger is there: the SQLite file exists, or the PostgreSQL database has our schema."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from sovcarbon.store.engine import make_engine

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database == ":memory:" or (database != "" and Path(database).is_file())
    try:
        engine = make_engine(settings.database_url)
        try:
            with engine.connect() as conn:
                return inspect(conn).has_table("alembic_version")
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        _fail(f"cannot reach the database {mask_url(settings.database_url)}: {_first_line(exc)}")


def _registry(*, create: bool = False) -> Registry:
    """The registry on the configured data dir and database. Only ``create`` (serve, admin init, an in-process
    demo) may create a ledger and its keys; every other command refuses a place where no registry is."""
    from sqlalchemy.exc import SQLAlchemyError

    from sovcarbon.services.participants import bootstrap
    from sovcarbon.store.signing import SigningKeyError

    settings = _settings()
    if not create and not registry_exists(settings):
        _fail(f"no registry at {settings.data_dir} (database {mask_url(settings.database_url)}): "
              "run `sovcarbon serve` or `sovcarbon admin init` first")
    try:
        reg = Registry(settings)
        bootstrap(reg)
    except SQLAlchemyError as exc:
        _fail(f"cannot open the database {mask_url(settings.database_url)}: {_first_line(exc)}")
    except SigningKeyError as exc:
        _fail(str(exc))
    except OSError as exc:  # e.g. the data dir cannot be created or read
        _fail(f"cannot open the registry at {settings.data_dir}: {exc.strerror or exc} "
              f"({exc.filename or settings.data_dir})")
    return reg


@admin_app.command("init")
def admin_init() -> None:
    """Create the registry (database schema, registry participant and buffer account) if it is not there."""
    existed = registry_exists(_settings())
    reg = _registry(create=True)
    try:
        state = "already initialised" if existed else "initialised"
        typer.echo(f"registry {state} at {reg.settings.data_dir} (database {mask_url(reg.settings.database_url)})")
    finally:
        reg.store.dispose()


@config_app.command("show")
def config_show() -> None:
    """Print the resolved settings (secrets masked) and where the registry would live."""
    from sovcarbon.config import describe

    settings = _settings()
    for key, value in describe(settings).items():
        typer.echo(f"{key} = {value}")
    typer.echo(f"registry_exists = {str(registry_exists(settings)).lower()}")


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000,
          demo: Annotated[bool, typer.Option("--demo", help="load the demo story once and print its keys")]
          = False,
          workers: Annotated[int, typer.Option("--workers", min=1, help="HTTP processes (PostgreSQL only); "
                                               "one of them runs the chain worker")] = 1,
          ssl_certfile: Annotated[Path | None, typer.Option("--ssl-certfile", help="serve https with this PEM "
                                                            "certificate (chain); peers register its CA")] = None,
          ssl_keyfile: Annotated[Path | None, typer.Option("--ssl-keyfile", help="the certificate's private key "
                                                           "(PEM, unencrypted)")] = None) -> None:
    """Start the registry (migrations applied on start) on http://HOST:PORT (https with --ssl-certfile)."""
    import uvicorn

    from sovcarbon.api.app import create_app, limit_recursion
    from sovcarbon.bootstrap import start_bridge
    from sovcarbon.services.journal_admin import CheckpointTimer

    tls = ssl_certfile is not None or ssl_keyfile is not None
    if tls:  # docs/interop.md, "TLS between registries"
        if ssl_certfile is None or ssl_keyfile is None or not ssl_certfile.is_file() or not ssl_keyfile.is_file():
            _fail("--ssl-certfile and --ssl-keyfile go together and must name existing PEM files")
        if workers > 1 or demo:
            _fail("--ssl-certfile serves one process without --demo (put a TLS proxy before --workers)")
    if workers > 1:
        _serve_workers(host, port, workers, demo)
        return
    if demo:
        # The demo (and only the demo) keeps its signing key in the data dir, generated on first start.
        os.environ.setdefault("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")
    os.umask(0o077)  # the ledger, keys and chain files in the data dir are the service account's alone
    reg = _registry(create=True)
    # the token chain (embedded unless SOVCARBON_CHAIN_URL), the settlement contracts, and its worker thread
    bridge = start_bridge(reg, settlement=True, start=True)
    # Checkpoints by time as well as by count, and one at shutdown (CheckpointTimer.stop).
    timer = CheckpointTimer(reg, log=lambda m: err.print(f"[red]{m}[/red]")).start()
    from sovcarbon.peers.worker import PeerWorker

    peer_worker = PeerWorker(reg).start()  # resumes cross-border transfers after a crash (docs/interop.md)
    application = create_app(reg)
    # uvicorn re-raises SIGTERM/SIGINT after its shutdown, so a `finally` here may never run: the last
    # checkpoint is signed in the application's shutdown event, after the bridge is closed (its worker thread
    # stopped between cycles, the chain closed: the embedded chain's file is checkpointed and released).
    application.router.add_event_handler("shutdown", bridge.close)
    application.router.add_event_handler("shutdown", timer.stop)
    # The journal is the authority: replay it against the tables in the background; a mismatch makes the
    # registry read-only (1006 on every write, GET /v1/registry says why) and is logged loudly.
    from sovcarbon.services import ledger_audit

    ledger_audit.startup_check(reg, log_line=lambda m: err.print(f"[bold red]{m}[/bold red]"))
    limit_recursion()  # py_ecc / py-evm raise it to 100,000 on import: deep inputs would crash the process
    base_url = f"{'https' if tls else 'http'}://{host}:{port}"
    if demo:
        threading.Thread(target=_load_demo, args=(reg, base_url), daemon=True).start()
    err.print(f"[green]registry of record on {base_url}[/green]  (API docs {base_url}/docs)")
    try:
        uvicorn.run(application, host=host, port=port, log_level="warning",
                    ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
                    ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None)
    finally:
        peer_worker.stop()
        bridge.close()
        timer.stop()


def _serve_workers(host: str, port: int, workers: int, demo: bool) -> None:
    """``serve --workers N``: create the ledger here (migrations, bootstrap), then N uvicorn processes, each
    with its own registry (``bootstrap.create_worker_app``); a PostgreSQL advisory lease elects the one that
    runs the chain worker (``store/leader.py``)."""
    import uvicorn

    settings = _settings()
    if not settings.database_url.startswith("postgresql"):
        _fail("--workers > 1 needs PostgreSQL (SOVCARBON_DATABASE_URL); SQLite is served by one process")
    if demo:
        _fail("--demo runs in one process: start without --workers")
    os.umask(0o077)
    _registry(create=True).store.dispose()  # the ledger exists and is migrated before any worker opens it
    err.print(f"[green]registry of record on http://{host}:{port}[/green]  ({workers} processes)")
    uvicorn.run("sovcarbon.bootstrap:create_worker_app", factory=True, workers=workers, host=host, port=port,
                log_level="warning")


def _load_demo(reg: Registry, base_url: str) -> None:
    from sovcarbon.demo import run_demo

    try:
        result = run_demo(reg, base_url, log=lambda m: err.print(f"[cyan]demo[/cyan] {m}"))
    except Exception as exc:  # noqa: BLE001 - the server keeps running; the operator is told why
        err.print(f"[red]demo failed: {exc}[/red]")
        return
    _print_keys(result["keys"], base_url)
    err.print(f"Verify a retirement certificate offline, pinning this registry's key: save "
              f"{base_url}/v1/certificates/<certificate id> as cert.json, then run "
              f"`sovcarbon certificate verify cert.json --public-key {reg.store.public_key_hex}`")


def _print_keys(keys: dict[str, str], base_url: str) -> None:
    table = Table(title="demo API keys (Authorization: Bearer <key>)")
    table.add_column("who")
    table.add_column("key")
    for who, key in keys.items():
        table.add_row(who, key)
    err.print(table)
    err.print(f"Open [bold]{base_url}/[/bold] for the explorer and [bold]{base_url}/docs[/bold] to try the API.")


@app.command("demo")
def demo_cmd(url: Annotated[str, typer.Option(help="the running registry's base URL")]
             = "http://127.0.0.1:8000") -> None:
    """Load the demo story into a running registry (once) and print the demo keys. If no registry answers
    at URL, one runs in this process for the story (with its chain, persisted in the data dir)."""
    import httpx

    from sovcarbon.demo import run_demo

    base_url = url.rstrip("/")
    try:
        running = httpx.get(f"{base_url}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        running = False
    os.environ.setdefault("SOVCARBON_ALLOW_KEY_IN_DATA_DIR", "1")  # demo only: the key may live in the data dir
    reg = _registry(create=not running)  # a running registry's data dir must exist; otherwise we serve one here
    if running:
        result = run_demo(reg, base_url, log=lambda m: err.print(f"[cyan]demo[/cyan] {m}"))
    else:
        result = _demo_in_process(reg, base_url)
    _print_keys(result["keys"], url)


def _demo_in_process(reg, base_url: str):  # type: ignore[no-untyped-def]
    import httpx
    import uvicorn

    from sovcarbon.api.app import create_app, limit_recursion
    from sovcarbon.bootstrap import start_bridge
    from sovcarbon.demo import run_demo

    bridge = start_bridge(reg, settlement=True, start=True)
    limit_recursion()
    parsed = httpx.URL(base_url)
    server = uvicorn.Server(uvicorn.Config(create_app(reg), host=parsed.host, port=parsed.port or 80,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        return run_demo(reg, base_url, log=lambda m: err.print(f"[cyan]demo[/cyan] {m}"))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        bridge.close()
        from sovcarbon.services.journal_admin import checkpoint_if_due

        checkpoint_if_due(reg, force=True)  # at shutdown: nothing written stays unsigned


@admin_app.command("create-signing-key")
def create_signing_key(file: Annotated[Path, typer.Argument(
        help="where to write the new key (PEM, mode 0600); keep it outside the data directory")]) -> None:
    """Create the registry's Ed25519 signing key once (never overwrites); point SOVCARBON_SIGNING_KEY_FILE at it.
    Prints the public key (hex): publish it, verifiers pin it."""
    from cryptography.hazmat.primitives import serialization

    from sovcarbon.store.signing import write_new_key

    try:
        key = write_new_key(file.expanduser().resolve())
    except FileExistsError:
        _fail(f"{file} exists already: a registry key is created once and never overwritten")
    except OSError as exc:
        _fail(f"cannot write {file}: {exc.strerror}")
    sys.stdout.write(key.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw).hex() + "\n")


@admin_app.command("create-key")
def create_key(role: Annotated[Role, typer.Option(help="the key's role")],
               participant: Annotated[str | None, typer.Option(help="participant id the key acts for")] = None,
               name: Annotated[str, typer.Option(help="the person or system holding the key")] = "",
               expires_in_days: Annotated[int | None, typer.Option(
                   help="the key stops working after this many days (default: until revoked)")] = None) -> None:
    """Create an API key; prints the key alone on stdout (it is stored only as a hash)."""
    from sovcarbon.services import auth

    reg = _registry()
    try:
        _, key = auth.create_key(reg, role, participant, name, expires_in_days=expires_in_days)
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    sys.stdout.write(key + "\n")


@admin_app.command("revoke-key")
def revoke_key(key_id: Annotated[str, typer.Argument(help="the key's id (key_...), see `admin list-keys`")],
               reason: Annotated[str, typer.Option(help="why (recorded in the journal)")] = "") -> None:
    """Revoke an API key: every later request with it is refused (1001). Journaled."""
    from sovcarbon.services import auth

    reg = _registry()
    try:
        view = auth.revoke_key(reg, key_id, reason)
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(view, indent=2))


@admin_app.command("list-keys")
def list_keys(as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False) -> None:
    """Every API key: id, role, participant, name, created, expires, revoked. Never the key itself."""
    from sovcarbon.services import auth

    keys = auth.list_keys(_registry())
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    table = Table(title="API keys")
    for column in ("id", "role", "participant_id", "name", "created_at", "expires_at", "revoked_at"):
        table.add_column(column)
    for k in keys:
        table.add_row(*(str(k[c] or "") for c in ("id", "role", "participant_id", "name", "created_at",
                                                   "expires_at", "revoked_at")))
    Console(width=200).print(table)


@journal_app.command("verify")
def journal_verify(deep: Annotated[bool, typer.Option(
        "--deep", help="also recompute every checkpoint's Merkle root")] = False) -> None:
    """Verify the journal from genesis; exit 1 naming the first bad entry if anything was altered."""
    from rich.progress import Progress

    from sovcarbon.services import journal_admin

    reg = _registry()
    with Progress(transient=True, console=err) as progress:
        progress.add_task("verifying the hash chain from genesis", total=None)
        result = journal_admin.verify(reg, deep=deep)
    if result["ok"]:
        typer.echo(f"journal OK: {result['entries']} entries, head #{result['head_seq']} {result['head_hash']}, "
                   f"{result['checkpoints_verified']} signed checkpoints verified")
        return
    typer.echo(f"journal BROKEN at seq {result['first_bad_seq']}: {result['reason']}")
    raise typer.Exit(1)


@journal_app.command("checkpoint")
def journal_checkpoint() -> None:
    """Sign a checkpoint of the journal head now."""
    from sovcarbon.services import journal_admin

    typer.echo(json.dumps(journal_admin.checkpoint(_registry()), indent=2))


@app.command("check")
def check_invariants() -> None:
    """The journal is the authority: run the invariant checker (I1-I7 as implemented), verify the journal's
    chain and signed checkpoints, and replay the journal's row images from genesis against every ledger
    table; exit 1 naming the first difference (table, row, column, journal and table values, entry)."""
    from sovcarbon.bridge.chain_check import check_chain
    from sovcarbon.services import ledger_audit

    reg = _registry()
    report = ledger_audit.full_check(reg)
    for line in report.lines:
        typer.echo(line)
    # the chain too, when one is configured: I4 per lot from the chain side and the whole-chain audit (read-only)
    chain = check_chain(reg)
    for line in chain.lines if chain is not None else []:
        typer.echo(line)
    if not report.ok or (chain is not None and not chain.ok):
        typer.echo(f"CHECK FAILED: {report.first_problem if not report.ok else chain and chain.first_problem}")
        raise typer.Exit(1)
    typer.echo("all invariants hold; the journal verifies and the ledger tables match its replay"
               + ("; the chain agrees" if chain is not None and not chain.lines[0].startswith("chain NOT") else ""))


@app.command("reconcile")
def reconcile_cmd() -> None:
    """Compare every token lot's chain supply and retired kg with the NR (I4); exit 1 on a mismatch (7001),
    which freezes the lot here and on chain. Nothing is corrected."""
    from sovcarbon.bootstrap import start_bridge
    from sovcarbon.chain import ChainUnavailable

    reg = _registry()
    try:
        bridge = start_bridge(reg)
    except ChainUnavailable as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        report = bridge.reconcile()
    finally:
        bridge.close()
    typer.echo(f"reconciliation {report['id']} at chain block {report['chain_block']}: {report['lots_checked']} lots, "
               f"{report['lots_in_flight']} in flight, {len(report['mismatches'])} mismatched")
    for m in report["mismatches"]:
        typer.echo(f"  7001 SUPPLY_MISMATCH lot {m['lot_id']} (chain lot {m['chain_lot_id']}): "
                   + "; ".join(m["problems"]) + (" - frozen" if m["frozen_now"] else " - already frozen"))
    if report.get("halted"):
        typer.echo("  7001 BRIDGE HALTED: acts on the contract the registry did not order: "
                   + ", ".join(f"{f['event']} {f['tx_hash']}#{f['log_index']}" for f in report["halted"]["findings"]))
    if report["status"] != "ok":
        raise typer.Exit(1)


@certificate_app.command("verify")
def certificate_verify(
        file: Path,
        public_key: Annotated[str | None, typer.Option(
            help="the registry's public key (64 hex digits), obtained from the registry itself (GET /v1/journal/head "
                 "public_key) or its publications, never from the certificate")] = None,
        registry_key_file: Annotated[Path | None, typer.Option(
            help="a file holding the registry's public key (hex, or a PEM public key)")] = None) -> None:
    """Verify a retirement certificate offline against the registry's pinned public key. Prints "signature
    valid" and "signed by this registry" separately; exit 0 only when both hold, 1 when either fails, 2 when
    no key is pinned (a document's own key proves nothing: anyone can sign a forgery with theirs)."""
    from sovcarbon.services.retirements import verify_certificate

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        _fail(f"no such file: {file}")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{file} is not a readable JSON certificate: {exc}")
    pinned = _pinned_public_key(public_key, registry_key_file)
    if not isinstance(document, dict):
        _fail(f"{file} is not a certificate document (a JSON object with certificate, signature, public_key)")
    try:
        result = verify_certificate(document, pinned)
    except RegistryError as exc:
        _fail(f"{file}: {exc}")
    yes_no = {True: "yes", False: "no", None: "unknown (no registry key pinned)"}
    typer.echo(f"certificate: {result['certificate_id']}")
    typer.echo(f"signature valid: {yes_no[result['signature_valid']]}")
    typer.echo(f"signed by this registry: {yes_no[result['signed_by_this_registry']]}")
    if pinned is None:
        _fail("no registry key pinned: pass --public-key HEX or --registry-key-file FILE with the registry's "
              "public key as published by the registry (GET /v1/journal/head -> public_key), not the one inside "
              "the certificate")
    if not result["valid"]:
        raise typer.Exit(1)


def _pinned_public_key(public_key: str | None, key_file: Path | None) -> str | None:
    """The verifier's pinned registry key as 64 hex digits (from --public-key or --registry-key-file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    text = public_key
    if key_file is not None:
        try:
            raw = key_file.read_bytes()
        except OSError as exc:
            _fail(f"cannot read --registry-key-file {key_file}: {exc.strerror}")
        if b"-----BEGIN" in raw:
            try:
                loaded = serialization.load_pem_public_key(raw)
            except ValueError as exc:
                _fail(f"--registry-key-file {key_file} is not a PEM public key: {exc}")
            if not isinstance(loaded, Ed25519PublicKey):
                _fail(f"--registry-key-file {key_file} holds a {type(loaded).__name__}, not an Ed25519 key")
            text = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        else:
            text = raw.decode("ascii", "replace").strip()
    if text is None:
        return None
    text = text.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        _fail(f"the registry public key must be 64 hex digits (an Ed25519 key), got {text[:80]!r}")
    return text


@report_app.command("aef")
def report_aef(year: Annotated[int, typer.Option(help="the reporting year")],
               out: Annotated[Path, typer.Option(help="the workbook to write (.xlsx), or .json")]) -> None:
    """Write the UNFCCC Article 6.2 AEF report (the CMA.6 template's workbook) for a year, from the ledger."""
    from sovcarbon.services import aef, aef_template

    if not out.parent.is_dir():
        _fail(f"cannot write {out}: the directory {out.parent} does not exist")
    reg = _registry()
    try:
        with reg.store.read() as uow:
            rep = aef.build(reg, uow, year)
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(rep, indent=2, sort_keys=True))
    else:
        aef.write_xlsx(rep, out)
    tables = rep["tables"]
    typer.echo(f"AEF {rep['file_name']} ({rep['annex']['submission']['status']}): "
               f"{len(tables[aef_template.T2_SHEET])} authorizations, {len(tables[aef_template.T3_SHEET])} actions, "
               f"{len(tables[aef_template.T4_SHEET])} holdings rows -> {out}")

@admin_app.command("ndc-period")
def admin_ndc_period(first_year: Annotated[int | None, typer.Option(help="first year of the NDC period")] = None,
                     last_year: Annotated[int | None, typer.Option(help="last year of the NDC period")] = None) -> None:
    """Show, or set (both years), the NDC implementation period the AEF reports. Journaled; 2021-2100, first <=
    last, at most ten years."""
    from sovcarbon.services import ndc_period

    reg = _registry()
    try:
        if first_year is None and last_year is None:
            with reg.store.read() as uow:
                result = ndc_period.view(uow)
        elif first_year is None or last_year is None:
            _fail("give both --first-year and --last-year to set the NDC implementation period")
        else:
            req = ndc_period.NdcPeriodIn(first_year=first_year, last_year=last_year)
            with reg.store.write() as uow:
                result = ndc_period.set_period(reg, uow, None, req)
    except RegistryError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))


@peers_app.command("list")
def peers_list() -> None:
    """The registered peer registries and every cross-border transfer with its state."""
    from sovcarbon.services import interop

    reg = _registry()
    with reg.store.read() as uow:
        for p in interop.list_peers(uow)["data"]:
            typer.echo(f"peer {p['id']} {p['status']} {p['base_url']} Party {p['party_code']} key {p['public_key']}")
        for tr in interop.list_transfers(uow)["data"]:
            typer.echo(f"transfer {tr['id']} {tr['side']} {tr['state']} {tr['quantity_kg']} kg with {tr['peer_id']}")


@peers_app.command("sync")
def peers_sync() -> None:
    """Recovery now: drive every open transfer, return units not accepted in time (8005), resolve in-doubt ones."""
    from sovcarbon.services import interop

    result = interop.sync(_registry())
    for transfer_id, state in result["driven"].items():
        typer.echo(f"{transfer_id} {state}")


@peers_app.command("identity")
def peers_identity() -> None:
    """This registry's id, Party and public key (what a peer's admin registers)."""
    from sovcarbon.services import interop

    typer.echo(json.dumps(interop.identity(_registry()), indent=2))


@peers_app.command("reconcile")
def peers_reconcile(peer_id: Annotated[str, typer.Argument(help="the peer registry's id, e.g. ID-NR")]) -> None:
    """I7 against one peer: totals, blocks, message trail; kg live in both are frozen here (exit 1, 8004)."""
    from sovcarbon.peers.client import PeerUnreachable
    from sovcarbon.services import peer_reconcile

    try:
        report = peer_reconcile.reconcile(_registry(), peer_id)
    except (RegistryError, PeerUnreachable) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report, indent=2))
    if not report["ok"]:
        raise typer.Exit(1)


@peers_app.command("link-demo")
def peers_link_demo(
        origin_url: Annotated[str, typer.Option(help="the demo registry (make run)")] = "http://127.0.0.1:8000",
        origin_keys: Annotated[Path, typer.Option(help="its demo-keys.json")] = Path("data/demo-keys.json"),
        url: Annotated[str, typer.Option(help="this registry, already serving")] = "http://127.0.0.1:8001") -> None:
    """Run with THIS registry's settings (e.g. the Indonesian profile): open the demo buyer's account here,
    register the two registries as peers of each other (four-eyes on both sides) and deliver the demo's
    export over the peer protocol, so that it arrives here (docs/interop.md)."""
    from sovcarbon.peers.demo_link import run_link_demo

    reg = _registry()
    try:
        result = run_link_demo(reg, origin_url.rstrip("/"), json.loads(origin_keys.read_text()), url.rstrip("/"),
                               log=lambda m: err.print(f"[cyan]peers[/cyan] {m}"))
    except (OSError, ValueError, RuntimeError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))


@dvp_app.command("list")
def dvp_list(status: Annotated[str | None, typer.Option(
        help="only orders in this state: ordered, open, settled, cancelled, expired, rejected")] = None) -> None:
    """Every DvP order with its state, its legs and the chain evidence of its last step (the host's view)."""
    from sovcarbon.services import settlement
    from sovcarbon.services.auth import SYSTEM_ACTOR

    reg = _registry()
    with reg.store.read() as uow:
        orders = settlement.list_orders(uow, SYSTEM_ACTOR, status)
    typer.echo(json.dumps(orders, indent=2))


DVP_KEY_ENV = "SOVCARBON_API_KEY"


@dvp_app.command("create")
def dvp_create(
        seller: Annotated[str, typer.Option(help="the seller's participant id (delivers the tokens)")],
        buyer: Annotated[str, typer.Option(help="the buyer's participant id (pays in tokenized THB)")],
        lot: Annotated[str, typer.Option(help="the token lot id (tlot_...)")],
        kg: Annotated[int, typer.Option(help="quantity in kg (integer)")],
        price_satang_per_t: Annotated[int, typer.Option(help="price in satang per tonne (integer)")],
        deadline: Annotated[str, typer.Option(help="ISO 8601 with a UTC offset, e.g. 2026-06-16T12:00:00+00:00")],
        idempotency_key: Annotated[str | None, typer.Option(help="a replay with the same key returns the first "
                                                                 "order")] = None) -> None:
    """A licensed intermediary orders a DvP (as POST /v1/dvp-orders). The intermediary's API key is read from
    SOVCARBON_API_KEY (never from the command line); prints the order with chain_dvp_id and the exact
    on-chain terms. Exit 1 with the registry's error code when the order is refused."""
    import os

    from pydantic import ValidationError

    from sovcarbon.services import auth, settlement

    key = os.environ.get(DVP_KEY_ENV, "").strip()
    if not key:
        _fail(f"{DVP_KEY_ENV} must hold the ordering intermediary's API key")
    try:
        body = settlement.DvpOrderIn(seller_id=seller, buyer_id=buyer, lot_id=lot, quantity_kg=kg,
                                     price_satang_per_t=price_satang_per_t, deadline_at=deadline)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"1003 {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
    reg = _registry()
    try:
        actor = auth.authenticate(reg, key)
        result = reg.execute(actor, "create_dvp_order", body.model_dump(mode="json"),
                             lambda uow: settlement.create_order(uow, actor, body), idempotency_key=idempotency_key)
    except RegistryError as exc:
        typer.echo(json.dumps({"code": exc.code, "name": exc.name, "message": exc.message}), err=True)
        raise typer.Exit(1) from exc
    finally:
        reg.store.dispose()
    typer.echo(json.dumps(result.body, indent=2))


@liens_app.command("list")
def liens_list(
        status: Annotated[str | None, typer.Option(
            help="only liens in this state: requested, active, defaulted, released, enforced, withdrawn")] = None,
        account: Annotated[str | None, typer.Option(help="only the liens on this account (acc_...)")] = None) -> None:
    """Every lien (units and tokens) with its pledgor, pledgee, kg, state and, for tokens, the chain evidence."""
    from sovcarbon.services import pledges
    from sovcarbon.services.auth import SYSTEM_ACTOR

    reg = _registry()
    try:
        typer.echo(json.dumps(pledges.statement(reg, SYSTEM_ACTOR, status=status, account_id=account), indent=2))
    finally:
        reg.store.dispose()


if __name__ == "__main__":
    app()
