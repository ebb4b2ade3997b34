"""Benchmark of the AEF report: generation time for a reporting year with 100,000 actions.

The ledger is built through the services (a registry on SQLite, an LoA granted with four-eyes whose
first transfer is the authorization, units attached in batches of 1,000 serial ranges of one tonne
each: each range is an ``authorization`` (annex) and a ``first_transfer`` (Table 3) action, plus NDC
exports of some of them: ``transfer``). Figure: seconds to generate the whole report (the five CMA.6
tables and the annex from the ledger, and the template's .xlsx workbook). Baseline: seconds to write
the same cells with the same writer (``services.aef_template``, streamed) and no queries, in the same
run. Goal: under 10 s for 100,000 actions.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sovcarbon.config import load_settings
from sovcarbon.domain.article6 import FirstTransferEvent, LoaPurpose
from sovcarbon.domain.model import Actor, KycStatus, ParticipantKind, Role
from sovcarbon.services import aef, article6, article6_attach, article6_export, issuance, participants, projects
from sovcarbon.services.article6_requests import AttachIn, AuthorizationIn, Destination, DocumentIn, ExportIn
from sovcarbon.services.registry import Registry
from sovcarbon.services.requests import AccountIn, IssuanceIn, ParticipantIn, Period, ProjectIn, ValidationIn
from sovcarbon.store import article6_tables as a6

ADMIN = Actor("key_bench_admin", Role.REGISTRY_ADMIN, None, "bench admin")
APPROVER = Actor("key_bench_approver", Role.REGISTRY_APPROVER, None, "bench approver")
VVB = Actor("key_bench_vvb", Role.VVB, None, "bench vvb")
RANGES_PER_ATTACH = 1000
RANGE_KG = 1000  # one ITMO (6006: whole tonnes on tonne boundaries)
GOAL_S = 10.0


def _world(reg: Registry) -> tuple[str, str]:
    """A registered Premium T-VER project with one issuance; returns (account id, serial prefix)."""
    def run(fn: Any) -> Any:
        with reg.store.write() as uow:
            return fn(uow)

    par = run(lambda u: participants.create_participant(reg, u, ADMIN, ParticipantIn(
        name="Bench Foundation", kind=ParticipantKind.COMPANY, country="TH", kyc_status=KycStatus.VERIFIED)))
    acc = run(lambda u: participants.open_account(reg, u, ADMIN, AccountIn(participant_id=par["id"])))
    owner = Actor("key_bench_owner", Role.PROPONENT, par["id"], "bench owner")
    prj = run(lambda u: projects.submit(reg, u, owner, ProjectIn(
        name="Bench forest", standard="PREMIUM_T-VER", methodology="T-VER-P-METH-13-01", host_country="TH",
        proponent_id=par["id"], crediting_period=Period(start=date(2021, 1, 1), end=date(2030, 12, 31)),
        location={"type": "Point", "coordinates": [99.8, 20.3]})))
    run(lambda u: projects.validate(reg, u, VVB, prj["id"], ValidationIn(report="ok")))
    run(lambda u: projects.register(reg, u, ADMIN, prj["id"]))
    iss = run(lambda u: issuance.request(reg, u, ADMIN, IssuanceIn(
        project_id=prj["id"], vintage=2025, monitoring_period=Period(start=date(2025, 1, 1), end=date(2025, 12, 31)),
        quantity_kg=200_000_000, account_id=acc["id"])))
    iss = run(lambda u: issuance.approve(reg, u, APPROVER, iss["id"]))
    return acc["id"], iss["serial_prefix"]


def _build(reg: Registry, actions: int) -> str:
    account_id, prefix = _world(reg)
    ranges = actions // 2  # each attached range: an authorization and a first transfer
    body = AuthorizationIn(
        reference="BENCH-LOA", authorization_date=date(2025, 1, 1), cooperative_approach_id="CA0099",
        max_quantity_kg=ranges * RANGE_KG, sectors=["Forestry and land use"], activity_types=["Reforestation"],
        mitigation_type="Removals",
        purposes=[LoaPurpose.NDC, LoaPurpose.OIMP],
        oimp=["CORSIA"], first_transfer_event=FirstTransferEvent.AUTHORIZATION, authorized_parties=["IDN"],
        timeframe=Period(start=date(2021, 1, 1), end=date(2030, 12, 31)),
        document=DocumentIn(name="loa.pdf", content_base64="JVBERi0xLjQK"))
    with reg.store.write() as uow:
        loa_id: str = article6.request_grant(reg, uow, ADMIN, body)["id"]
    with reg.store.write() as uow:
        article6.approve(reg, uow, APPROVER, loa_id)
    for start in range(0, ranges, RANGES_PER_ATTACH):
        serials = [f"{prefix}-{k * 2 * RANGE_KG + 1:012d}-{k * 2 * RANGE_KG + RANGE_KG:012d}"
                   for k in range(start, min(start + RANGES_PER_ATTACH, ranges))]
        with reg.store.write() as uow:
            article6_attach.attach(reg, uow, ADMIN, loa_id, AttachIn(serials=serials))
    with reg.store.read() as uow:  # exports are the holder's act (domain.access)
        owner = Actor("key_bench_owner", Role.PROPONENT, uow.repo.account(account_id).participant_id, "bench owner")
    for k in range(0, min(ranges, 100)):
        serial = f"{prefix}-{k * 2 * RANGE_KG + 1:012d}-{k * 2 * RANGE_KG + RANGE_KG:012d}"
        with reg.store.write() as uow:
            article6_export.export(reg, uow, owner, ExportIn(
                account_id=account_id, authorization_id=loa_id, purpose=LoaPurpose.NDC, serials=[serial],
                destination=Destination(party="IDN", registry_id="IDN01", account_id="B-1", entity="Buyer")))
    return loa_id


def _measure(actions: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-aef-") as tmp:
        data = Path(tmp)
        reg = Registry(load_settings(data_dir=str(data), database_url=f"sqlite:///{data / 'registry.sqlite'}"))
        participants.bootstrap(reg)
        started = time.perf_counter()
        _build(reg, actions)
        build_s = time.perf_counter() - started
        with reg.store.read() as uow:
            year = int(uow.now[:4])
        write_times: list[float] = []
        report_times: list[float] = []
        with reg.store.read() as uow:
            rows = len(uow.conn.execute(select(a6.a6_actions.c.id).where(a6.a6_actions.c.year == year)).all())
        for _ in range(rounds):
            started = time.perf_counter()
            with reg.store.read() as uow:
                rep = aef.build(reg, uow, year)
            size = len(aef.xlsx_bytes(rep))
            report_times.append(time.perf_counter() - started)
            started = time.perf_counter()  # the same cells, same library, no queries
            aef.xlsx_bytes(rep)
            write_times.append(time.perf_counter() - started)
        assert len(rep["annex"]["actions"]) == rows >= actions, (len(rep["annex"]["actions"]), rows)
        table3 = len(rep["tables"]["Table 3 Actions"])
        reg.store.dispose()
    figure, baseline = statistics.median(report_times), statistics.median(write_times)
    return {"benchmark": f"AEF report (CMA.6 tables + annex, xlsx) for a year with {rows:,} actions "
                         f"({table3:,} Table 3 rows; ledger built in {build_s:.0f} s; workbook {size / 1e6:.1f} MB)",
            "figure": round(figure, 2), "unit": "s", "baseline": round(baseline, 3),
            "ratio": round(figure / baseline, 1),
            "goal": f"< {GOAL_S:.0f} s for 100,000 actions (baseline: writing the same cells, no queries)"}


def run(quick: bool = False) -> list[dict[str, Any]]:
    return [_measure(10_000 if quick else 100_000, 3 if quick else 1)]


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(f"{row['benchmark']}: {row['figure']} {row['unit']} (baseline {row['baseline']} {row['unit']}, "
              f"ratio {row['ratio']}, goal {row['goal']})")
