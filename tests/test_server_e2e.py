"""The registry as a newcomer meets it: a real server process over real HTTP, the demo loaded once,
the explorer home page, the CLI on the same data directory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import served


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    env = served.clean_env(data_dir)
    server = served.start(env, "--demo")

    def demo_loaded() -> bool:
        if not (data_dir / "demo-keys.json").exists():
            return False
        try:
            return bool(httpx.get(f"{server.base}/v1/retirements", timeout=2).json()["data"])
        except (httpx.HTTPError, KeyError, ValueError):
            return False

    try:
        server.wait_until(demo_loaded, 180, "the demo")
        yield server.base, env
    finally:
        server.stop(timeout_s=20)


def test_home_page_shows_supply_and_docs(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    home = httpx.get(f"{base}/", timeout=10)
    assert home.status_code == 200
    assert "Total supply by state" in home.text and "/docs" in home.text
    assert "10,000 t" in home.text  # issued by the demo
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    assert "/v1/transfers" in spec["paths"] and "/v1/serials/{serial}" in spec["paths"]


def test_demo_story_is_in_the_ledger(server: tuple[str, dict[str, str]]) -> None:
    base, _ = server
    supply = httpx.get(f"{base}/v1/supply", timeout=10).json()
    assert supply["issued_kg"] >= 10_000_000 and supply["balanced"]
    assert supply["by_state_kg"]["retired"] >= 1_234_567
    ret = httpx.get(f"{base}/v1/retirements", timeout=10).json()["data"][0]
    page = httpx.get(f"{base}/explorer/retirements/{ret['id']}", timeout=10)
    assert page.status_code == 200 and "Retirement certificate" in page.text
    serial_page = httpx.get(f"{base}/explorer/serial", params={"q": ret["serials"][0]}, timeout=10)
    assert "retired" in serial_page.text



def test_demo_buyer_paid_in_tokenized_thb_in_one_settlement(server: tuple[str, dict[str, str]]) -> None:
    """Story 5: the company bought 2,000,000 kg for tokenized THB through the escrow, recorded with evidence."""
    base, env = server
    keys = json.loads((Path(env["SOVCARBON_DATA_DIR"]) / "demo-keys.json").read_text())
    orders = httpx.get(f"{base}/v1/dvp-orders", params={"status": "settled"}, timeout=10,
                       headers={"Authorization": f"Bearer {keys['regulator']}"}).json()["data"]
    assert [(o["quantity_kg"], o["total_satang"]) for o in orders] == [(2_000_000, 2_000 * 35_000)]
    assert orders[0]["evidence"]["tx_hash"].startswith("0x")
    bridge = httpx.get(f"{base}/v1/bridge", timeout=10, headers={"Authorization": f"Bearer {keys['regulator']}"})
    assert bridge.status_code == 200 and bridge.json()["settlement"]["escrow"].startswith("0x"), bridge.text


def test_demo_foundation_pledged_to_its_bank_which_released_part(server: tuple[str, dict[str, str]]) -> None:
    """Story 6: 500,000 kg pledged to the bank, 200,000 kg released: 300,000 kg stay pledged, in supply too."""
    base, env = server
    keys = json.loads((Path(env["SOVCARBON_DATA_DIR"]) / "demo-keys.json").read_text())
    liens = httpx.get(f"{base}/v1/liens", params={"side": "pledgee"}, timeout=10,
                      headers={"Authorization": f"Bearer {keys['bank']}"}).json()["data"]
    assert [(x["pledged_kg"], x["released_kg"], x["remaining_kg"], x["status"]) for x in liens] == [
        (500_000, 200_000, 300_000, "active")]
    supply = httpx.get(f"{base}/v1/supply", timeout=10).json()
    assert supply["pledged_kg"] == 300_000 and supply["balanced"]


def test_cli_on_the_same_data_dir(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = server
    # The demo keeps its signing key in its data dir: other commands on that dir refuse it unless opted in.
    refused = served.run_cli(env, "journal", "verify")
    assert refused.returncode == 2 and "SOVCARBON_SIGNING_KEY_FILE" in refused.stderr, refused.stderr
    env = {**env, "SOVCARBON_ALLOW_KEY_IN_DATA_DIR": "1"}
    created = served.run_cli(env, "admin", "create-key", "--role", "regulator", "--name", "central bank")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n" and key.startswith("sk_")
    accounts = httpx.get(f"{base}/v1/accounts", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert accounts.status_code == 200 and len(accounts.json()["data"]) >= 3
    verify = served.run_cli(env, "journal", "verify")
    assert verify.returncode == 0 and "journal OK" in verify.stdout, verify.stdout + verify.stderr
    check = served.run_cli(env, "check")
    assert check.returncode == 0, check.stdout
    ret = httpx.get(f"{base}/v1/retirements", timeout=10).json()["data"][0]
    cert = httpx.get(f"{base}/v1/certificates/{ret['certificate_id']}", timeout=10).json()
    registry_key = httpx.get(f"{base}/v1/journal/head", timeout=10).json()["public_key"]
    path = tmp_path / "cert.json"
    path.write_text(json.dumps(cert))
    ok = served.run_cli(env, "certificate", "verify", str(path), "--public-key", registry_key)
    assert ok.returncode == 0 and "signed by this registry: yes" in ok.stdout, ok.stdout
    assert served.run_cli(env, "certificate", "verify", str(path)).returncode == 2  # no pinned key
    cert["certificate"]["beneficiary"]["name"] = "someone else"
    path.write_text(json.dumps(cert))
    assert served.run_cli(env, "certificate", "verify", str(path), "--public-key", registry_key).returncode == 1
    bad = served.run_cli(env, "admin", "create-key", "--role", "holder")
    assert bad.returncode == 2 and bad.stdout == ""


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (CI installs it)")
def test_explorer_in_a_real_browser(server: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """A newcomer's path: home page, click into the project, look a retired serial up, open its certificate."""
    from playwright.sync_api import sync_playwright

    base, _ = server
    ret = httpx.get(f"{base}/v1/retirements", timeout=10).json()["data"][0]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.goto(f"{base}/")
        assert page.locator("h2", has_text="Total supply by state").is_visible()
        retired_kg = httpx.get(f"{base}/v1/supply", timeout=10).json()["by_state_kg"]["retired"]
        whole, rest = divmod(retired_kg, 1000)
        assert page.locator('[data-state="retired"]').inner_text().startswith(f"{whole:,}.{rest:03d}")
        page.screenshot(path=str(tmp_path / "home.png"), full_page=True)
        page.get_by_role("link", name="Doi Tung forest conservation (demo)").click()
        assert "Premium T-VER" in page.content() or "PREMIUM_T-VER" in page.content()
        page.get_by_role("link", name="Serial lookup").click()
        page.fill("input[name=q]", ret["serials"][0])
        page.get_by_role("button", name="Look up").click()
        assert page.locator("h2", has_text="State: retired").is_visible()
        page.goto(f"{base}/explorer/retirements/{ret['id']}")
        assert page.locator("h1", has_text="Retirement certificate").is_visible()
        page.goto(f"{base}/docs")
        # Swagger UI renders from the registry's own assets (no CDN on a closed network).
        page.wait_for_selector(".opblock-tag", timeout=15_000)
        assert page.locator(".opblock-tag", has_text="movements").count() >= 1
        browser.close()
