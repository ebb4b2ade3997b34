"""The framework's floor for ``bench_http``: the same uvicorn (uvloop, httptools) and FastAPI serving one
synchronous ``POST /v1/transfers`` that validates the same ``TransferIn`` body and returns a JSON body of the
size ours returns, with no registry behind it (no authentication, idempotency, ledger or journal).

Its rate, measured in the same run with the same client, is the most any FastAPI route doing this can reach on
the machine: our HTTP rate ÷ this floor shows how much of the gap to the service layer is ours.
Run by ``bench_http`` as ``uvicorn bench.floor_app:app``."""

from __future__ import annotations

from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from sovcarbon.services.requests import TransferIn

app = FastAPI()


@app.post("/v1/transfers", status_code=201)
def transfer(body: TransferIn, idempotency_key: str = Header(...)) -> JSONResponse:
    moved = {"id": "blk_" + idempotency_key[:20], "serial": "TH-PTVER-00001-2021-001-000000000001-000000001000",
             "quantity_kg": body.quantity_kg, "account_id": body.to_account_id}
    return JSONResponse({"txn_id": "txn_" + idempotency_key[:20], "journal_seq": 1, "kind": "transfer",
                         "from_account_id": body.from_account_id, "to_account_id": body.to_account_id,
                         "moved": [moved], "remainder": [dict(moved, account_id=body.from_account_id)]},
                        status_code=201)
