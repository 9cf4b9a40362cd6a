"""`chattree check`: one OK/FAIL line per part, a non-zero exit on any FAIL, and no changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.commands import Finished, chattree
from tests.conftest import async_url, postgres_reachable
from tests.fake_model import FakeModelServer
from tests.harness import Api
from tests.processes import free_port


def lines(result: Finished) -> dict[str, str]:
    """Each line's subject, mapped to its status and detail."""
    found: dict[str, str] = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition("  ")
        subject, _, detail = rest.strip().partition(": ")
        found[subject] = f"{status.strip()} {detail}"
    return found


async def test_a_working_setup_passes_every_check(api: Api, server_env: dict[str, str]) -> None:
    result = await chattree("check", env=server_env)
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert list(found) == ["configuration", "database", "migrations", "model server", "models"]
    assert all(line.startswith("OK ") for line in found.values()), found
    assert "(the latest)" in found["migrations"]
    assert found["models"] == "OK test-model, other-model; new conversations use test-model"


async def test_the_configuration_line_never_shows_a_password(
    api: Api, server_env: dict[str, str]
) -> None:
    result = await chattree("check", env=server_env | {"MODEL_API_KEY": "sk-secret-key"})
    assert "sk-secret-key" not in result.stdout
    assert server_env["SIGNATURE"] not in result.stdout


async def test_a_database_password_is_hidden_even_when_the_database_is_down(
    fake_model: FakeModelServer,
) -> None:
    url = f"postgresql+asyncpg://chattree:hunter2secret@127.0.0.1:{free_port()}/chattree"
    result = await chattree("check", env={"DB_URL": url, "MODEL_BASE_URL": fake_model.base_url})
    assert result.returncode == 1
    assert "hunter2secret" not in result.stdout + result.stderr
    found = lines(result)
    assert "postgresql+asyncpg://chattree:***@127.0.0.1" in found["configuration"]
    assert found["database"].startswith("FAIL cannot connect: ")


async def test_an_unreachable_model_server_fails_and_says_what_to_set(
    api: Api, server_env: dict[str, str]
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    result = await chattree("check", env=server_env | {"MODEL_BASE_URL": closed})
    assert result.returncode == 1
    found = lines(result)
    assert found["database"].startswith("OK ")
    assert found["model server"].startswith(f"FAIL cannot reach the model server at {closed}")
    assert "set MODEL_BASE_URL" in found["model server"]
    assert "models" not in found


async def test_a_default_model_the_server_lacks_fails(api: Api, server_env: dict[str, str]) -> None:
    result = await chattree("check", env=server_env | {"DEFAULT_MODEL": "missing"})
    assert result.returncode == 1
    assert lines(result)["models"] == (
        "FAIL DEFAULT_MODEL='missing' is not among them: test-model, other-model"
    )


async def test_a_model_server_listing_no_models_fails(
    api: Api, server_env: dict[str, str], fake_model: FakeModelServer
) -> None:
    fake_model.models = []
    result = await chattree("check", env=server_env)
    assert result.returncode == 1
    assert lines(result)["models"] == "FAIL the model server lists no models"


async def test_a_new_sqlite_database_fails_migrations_and_is_not_created(
    tmp_path: Path, fake_model: FakeModelServer
) -> None:
    database = tmp_path / "data" / "new.db"
    env = {"DB_URL": f"sqlite+aiosqlite:///{database}", "MODEL_BASE_URL": fake_model.base_url}
    result = await chattree("check", env=env)
    assert result.returncode == 1
    found = lines(result)
    assert found["database"] == f"OK {database} does not exist yet; the server creates it"
    assert found["migrations"] == "FAIL no schema yet: run `chattree migrate`"
    assert found["models"].startswith("OK ")
    assert not database.exists() and not database.parent.exists()


@pytest.mark.empty_database
async def test_an_unmigrated_database_fails_until_migrated(
    db_url: str, fake_model: FakeModelServer
) -> None:
    env = {"DB_URL": db_url, "MODEL_BASE_URL": fake_model.base_url}
    if db_url.startswith("sqlite"):
        # An empty file: it exists and holds no schema.
        Path(db_url.split("///", 1)[1]).touch()  # noqa: ASYNC240 - test setup, instant
    before = await chattree("check", env=env)
    assert lines(before)["migrations"] == "FAIL no schema yet: run `chattree migrate`"
    assert (await chattree("migrate", env=env)).returncode == 0
    after = await chattree("check", env=env)
    assert after.returncode == 0, after.stdout
    assert lines(after)["migrations"].startswith("OK at ")


async def test_an_unreachable_database_fails(fake_model: FakeModelServer) -> None:
    if not await postgres_reachable():
        pytest.skip("PostgreSQL is not reachable")
    env = {"DB_URL": async_url("chattree_no_such_database"), "MODEL_BASE_URL": fake_model.base_url}
    result = await chattree("check", env=env)
    assert result.returncode == 1
    found = lines(result)
    assert found["database"].startswith("FAIL cannot connect: ")
    assert "chattree_no_such_database" in found["database"]
    assert "migrations" not in found
    assert found["model server"].startswith("OK ")


async def test_a_bad_setting_fails_the_configuration_and_names_it() -> None:
    result = await chattree("check", env={"UVICORN_PORT": "eighty"})
    assert result.returncode == 1
    assert result.stdout == (
        "FAIL  configuration: UVICORN_PORT='eighty' is not valid: expected an integer\n"
    )
