"""A property-based fuzz of the whole OpenAPI schema: no 5xx, no response that breaks its own schema.

Schemathesis generates requests for every documented operation (valid and invalid bodies,
parameters and headers) and sends them to the real app (in process, over ASGI) around a real
service: a registry, an alarm store and the accounts on one real SQLite database, the real face
models, authenticated with a full-access key. Bounded and derandomised so that it is the same
run each time and stays short.
"""

from __future__ import annotations

import datetime as dt
import os
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from alarms.store import AlarmStore
from alarms.types import AlarmDraft, Subject
from api.accounts.limiter import LoginLimits
from api.accounts.store import Accounts
from api.app import create_app
from estatewatch.config import ServiceConfig
from estatewatch.service import Service
from registry.config import RegistrySettings
from registry.service import Registry
from tests.registry.conftest import TEST_KEY, analyzer  # noqa: F401  (the session's face engine)
from vision.cascade import Cascade

KEY = "fuzz-test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLES = int(os.environ.get("ESTATEWATCH_FUZZ_EXAMPLES", "6"))
"""Cases per operation and mode: enough to find the classic 5xx, short enough for the suite (a deeper
run: ``ESTATEWATCH_FUZZ_EXAMPLES=100 pytest tests/api/test_fuzz.py -o timeout=0``)."""
CONFIG = {"cameras": [{"id": "gate", "url": "rtsp://admin:fuzz-secret@127.0.0.1:9/main", "run": ["faces"]}]}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, analyzer: Any) -> Iterator[FastAPI]:  # noqa: F811
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'estatewatch.db'}"
    registry = Registry.open(RegistrySettings(database_url=url, template_key=TEST_KEY))
    store = AlarmStore.open(url, data_dir=folder / "alarms", cipher=registry.cipher)
    registry.add_holder(store)
    accounts = Accounts.open(url)
    seed(registry, store)
    service = Service(ServiceConfig.model_validate(CONFIG), cascade=Cascade(analyzer, None, None),
                      registry=registry, store=store)
    service.start()  # the camera points at a closed port: it stays offline, which is not unready
    try:
        yield create_app(service, frozenset([KEY]), accounts, LoginLimits())
    finally:
        service.stop()
        accounts.close()
        store.close()
        registry.close()


def seed(registry: Registry, store: AlarmStore) -> None:
    """A little of everything, so that list and read routes answer with real bodies too."""
    resident = registry.add_resident("王芳", building="1", unit="2", room="301", tags=["vip"])
    registry.add_vehicle("京A12345", resident_id=resident)
    now = dt.datetime.now(dt.UTC)
    registry.add_visitor("张三", resident, now, now + dt.timedelta(hours=2))
    registry.add_watchlist_entry("plate thief", plate="粤C99999", severity="high")
    store.raise_alarm(AlarmDraft(
        type="watchlist_vehicle", severity="high", rule_id="watchlist-plates", camera_id="gate", zone=None,
        occurred_at=now, subject=Subject(kind="plate", id="粤C99999"),
        dedup_key="watchlist-plates|粤C99999|gate", similarity=None, plate_text="粤C99999", details={}),
        snapshot=np.full((48, 64, 3), 80, np.uint8))


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("path", ["/api/v1/audit", "/api/v1/alarms", "/api/v1/residents"])
def test_an_offset_past_any_database_integer_is_422(app: FastAPI, path: str) -> None:
    """Found by the fuzz: SQLite cannot bind an offset of 2**64 (it was a 500)."""
    with TestClient(app) as client:
        response = client.get(path, params={"offset": 2**64}, headers=AUTH)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "offset"]


def fuzz(operation: Any, mode: GenerationMode) -> str | None:
    """Run one operation's cases in ``mode``; the first failure, described, or ``None``."""
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        case.call_and_validate(headers=AUTH, checks=[not_a_server_error, response_schema_conformance])

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (an operation without inputs, in negative mode)
        return None
    except (Exception, BaseExceptionGroup) as exc:  # a check failed (schemathesis raises failure groups)
        return f"{operation.label} ({mode.value}): " + "".join(traceback.format_exception(exc))[-4000:]
    return None


def test_no_server_error_and_every_response_fits_its_schema(api_schema: Any) -> None:
    """Every operation, valid and invalid inputs; all failures are reported together."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40, [o.label for o in operations]
    failures = [f for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                if (f := fuzz(op, mode))]
    assert not failures, "\n\n".join(failures)
