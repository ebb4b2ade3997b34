"""The architecture the README draws, checked on the code: which package may import which, and no import
cycles between modules. Reads every ``import`` of ``src/sovcarbon`` (module level and inside functions).

Layers, inward: entry points (api, web, cli, demo) -> services -> domain; services -> store, chain, peers.
The bridge is both an adapter and a driver (its worker and event consumer call services as an entry
point does). ``bootstrap`` is the composition root and may import anything.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sovcarbon"

# package -> the packages of ours it may import (besides itself). Top-level modules count as packages.
ALLOWED: dict[str, set[str]] = {
    "domain": set(),
    "config": {"domain"},
    "store": {"domain"},
    "chain": {"domain"},
    "peers": {"domain", "store", "services", "config"},  # like the bridge: an adapter and a driver (peer worker)
    "services": {"domain", "store", "chain", "peers", "config"},
    "bridge": {"domain", "store", "chain", "services", "config"},
    "web": {"services", "domain"},
    "api": {"services", "domain", "web", "version"},  # api.app mounts the explorer pages
    "demo": {"services", "domain", "bootstrap"},
    "cli": {"services", "domain", "config", "bootstrap", "version"},
    "bootstrap": {"domain", "store", "chain", "peers", "services", "bridge", "api", "web", "config", "demo",
                  "version"},
}

# Imports that break the layering today, each with the reason it is still there. Shrink, never grow.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("services.bridge_officer", "bridge"): "reads the bridge's halt state (bridge.audit); needs a port in services",
    ("api.routes_tokens", "bridge"): "finds the attached Bridge (bridge.attached) and renders dead letters",
    ("demo", "bridge"): "waits for the attached bridge to catch up",
    ("cli", "store"): "make_engine / signing-key files for admin commands: to move behind bootstrap",
    ("cli", "bridge"): "check reads the chain (bridge.chain_check); serve starts the bridge through bootstrap",
    ("cli", "chain"): "ChainUnavailable for the reconcile command's message",
    ("cli", "api"): "serve builds the app (create_app): to move into bootstrap",
    ("cli", "demo"): "serve --demo / demo load the demo story",
    ("cli", "peers"): "serve starts the peer worker: to move into bootstrap",
}

# Module cycles still there, each with its reason. Shrink, never grow.
KNOWN_CYCLES: dict[frozenset[str], str] = {
    frozenset({"sovcarbon.api.guard", "sovcarbon.api.deps"}): "guard reads deps' markers lazily to declare auth",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "version"  # `from sovcarbon import __version__`
    return "version" if parts[1] == "__version__" else parts[1]


def imports() -> dict[str, set[str]]:
    """module -> modules of ours it imports (``from sovcarbon.x import y`` counts as x.y when that is a module)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    found: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "sovcarbon":
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.append(sub if sub in modules else node.module)
            elif isinstance(node, ast.Import):
                targets += [a.name for a in node.names if a.name.split(".")[0] == "sovcarbon"]
            for target in targets:
                if target == "sovcarbon" or target == "sovcarbon.__version__":
                    found[name].add("sovcarbon.__version__")
                elif target != name:
                    found[name].add(target)
    return found


def test_packages_import_only_inward() -> None:
    bad: list[str] = []
    used_exceptions: set[tuple[str, str]] = set()
    for module, targets in imports().items():
        src = _package(module)
        short = module.split(".", 1)[1] if "." in module else module
        for target in targets:
            dst = _package(target)
            if dst == src:
                continue
            if dst in ALLOWED.get(src, set()):
                continue
            key = (short, dst)
            if key in KNOWN_EXCEPTIONS:
                used_exceptions.add(key)
                continue
            bad.append(f"{module} imports {target} ({src} -> {dst} is not an allowed direction)")
    assert not bad, "\n".join(sorted(bad))
    stale = set(KNOWN_EXCEPTIONS) - used_exceptions
    assert not stale, f"exceptions no longer needed, remove them: {sorted(stale)}"


def test_domain_imports_nothing_of_ours_outside_itself() -> None:
    for module, targets in imports().items():
        if _package(module) == "domain":
            assert all(_package(t) == "domain" for t in targets), (module, targets)


def test_entry_points_never_touch_store_tables_or_the_unit_of_work() -> None:
    for module, targets in imports().items():
        short = module.split(".", 1)[1]
        if _package(module) in {"api", "web"} and (short, "store") not in KNOWN_EXCEPTIONS:
            assert not [t for t in targets if _package(t) == "store"], (module, targets)


def test_no_import_cycles_between_modules() -> None:
    graph = imports()
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    left = [c for c in cycles if frozenset(c) not in KNOWN_CYCLES]
    assert not left, "\n".join(" -> ".join(c) for c in left)


def test_no_registration_by_import_side_effect() -> None:
    """No module appends itself to another module's list when imported: the wiring is explicit
    (``services.invariants.SNAPSHOT_LOADERS`` / ``CHECKS``)."""
    offenders: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            for node in ast.walk(stmt):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in {"append", "extend", "register"}):
                    offenders.append(f"{_module_name(path)}:{node.lineno}")
    assert not offenders, offenders


# The run-time hooks the services read, and the one module allowed to fill them.
HOOK_REGISTRIES = {"CHAIN_READERS", "OUTBOX_WAKERS", "ESCROW_READERS"}
HOOK_WIRING = {"attach"}  # bridge.runtime.attach: which bridge serves a registry


def test_only_bootstrap_wires_the_bridge_to_the_services() -> None:
    """A bridge registers itself nowhere (not on import, not when constructed or opened): only
    ``sovcarbon.bootstrap`` puts a bridge into the services' hooks (``start_bridge`` / ``wire_bridge``)."""
    offenders: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        if "migrations" in path.parts or module == "sovcarbon.bootstrap":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                if (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute | ast.Name)
                        and getattr(target.value, "attr", getattr(target.value, "id", "")) in HOOK_REGISTRIES):
                    offenders.append(f"{module}:{node.lineno} fills {ast.unparse(target.value)}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in HOOK_WIRING
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "runtime"):
                offenders.append(f"{module}:{node.lineno} calls runtime.{node.func.attr}")
    assert not offenders, offenders


def test_every_capability_invariant_is_wired() -> None:
    from sovcarbon.domain import article6, checkpoints, pledge, settlement, tokenize
    from sovcarbon.services import article6 as article6_service
    from sovcarbon.services import invariants, journal_admin, pledges, token_lots
    from sovcarbon.services import settlement as settlement_service

    assert set(invariants.CHECKS) == {tokenize.check_mirror, article6.check_i6, checkpoints.invariant_check,
                                      settlement.check_escrow, pledge.check_lien_snapshot}
    assert set(invariants.SNAPSHOT_LOADERS) == {token_lots.load_lot_facts, article6_service.load_snapshot,
                                                journal_admin.load_checkpoint_facts, settlement_service.load_snapshot,
                                                pledges.load_snapshot}


# Aggregates whose storage sits behind a repository in store/ (blocks: store/blocks.BlockRepository; journal:
# store/journal_reads.JournalRepository, written only by UnitOfWork.append): services build no SQL for them.
REPOSITORY_TABLES = {"blocks", "journal", "journal_head", "checkpoints"}
_AGGREGATE_SQL = re.compile(r"\b(FROM|UPDATE|INTO|JOIN)\s+(blocks|journal|journal_head|checkpoints)\b", re.I)

# Services that still build SQL for those aggregates, each with its reason. Shrink, never grow.
KNOWN_SQL_IN_SERVICES: dict[str, str] = {
    "aef": "the AEF year-close reads the journal head (split from aef.py today; its reads move next)",
    "aef_holdings": "AEF holdings by block and coverage (split from aef.py today; to BlockRepository next)",
    "aef_tables": "AEF tables join blocks with Article 6 coverage (split from aef.py today)",
    "interop": "the return path joins retirements, blocks and peer mirrors (cross-border session's module)",
    "invariants": "the snapshot loader reads every block and entry for I1-I5 in one pass (edited by others today)",
    "journal_admin": "journal verify streams seq ranges on its own engines with binary cursors (_batches_on)",
    "ledger_audit": "the journal replay streams every entry with a DB-API cursor (fetchmany batches)",
    "pledges": "a lien's pledged leaves and the free kg (the pledges session's module, written today)",
}


def test_services_build_no_sql_for_aggregates_behind_repositories() -> None:
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted((PACKAGE / "services").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in REPOSITORY_TABLES
                    and isinstance(node.value, ast.Name) and node.value.id == "t"):
                found[path.stem].append(f"{path.name}:{node.lineno} t.{node.attr}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                hit = _AGGREGATE_SQL.search(node.value)
                if hit:
                    found[path.stem].append(f"{path.name}:{node.lineno} {hit.group(0)!r}")
    new = [hit for module, hits in found.items() if module not in KNOWN_SQL_IN_SERVICES for hit in hits]
    assert not new, "use store/blocks.BlockRepository or store/journal_reads.JournalRepository:\n" + "\n".join(new)
    stale = set(KNOWN_SQL_IN_SERVICES) - set(found)
    assert not stale, f"no longer building that SQL, remove the exception: {sorted(stale)}"


# The Article 6 services read authorizations, coverage, first transfers, adjustments, documents and labels through
# store/authorizations.AuthorizationRepository (uow.repo.authorizations): they build no SELECT of their own.
KNOWN_SELECTS_IN_ARTICLE6: dict[str, str] = {
    "article6_serials": "finds an ITMO's issuance by its serial prefix pattern (the issuances aggregate)",
}


def test_article6_services_read_through_their_repository() -> None:
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted((PACKAGE / "services").glob("article6*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select":
                found[path.stem].append(f"{path.name}:{node.lineno}")
    new = [hit for module, hits in found.items() if module not in KNOWN_SELECTS_IN_ARTICLE6 for hit in hits]
    assert not new, "use store/authorizations.AuthorizationRepository:\n" + "\n".join(new)
    assert not set(KNOWN_SELECTS_IN_ARTICLE6) - set(found), "remove the exception"
