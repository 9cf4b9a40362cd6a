"""The built wheel is a complete server: installed outside the checkout, with no
alembic.ini and no alembic/ folder in sight, `chattree migrate` still builds the schema."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "chattree"
MIGRATIONS = ROOT / "alembic"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built from a copy of the sources: building in the checkout would leave a
    build/ folder whose stale files later builds pick up (and races with other runs)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("src", "alembic"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source,
        check=True,
        timeout=120,
    )
    (built,) = dist.glob("chattree-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel installed. Its dependencies come from the test
    environment's site-packages through a .pth file, written after installing (pip would
    otherwise see the checkout's install there). Folders a .pth names have their own .pth
    files ignored, so the editable install of the checkout stays out."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), *install], check=True, timeout=120
    )
    site = Path(run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    dependencies = [entry for entry in sys.path if Path(entry).name == "site-packages"]
    (site / "test_dependencies.pth").write_text("".join(f"{d}\n" for d in dependencies))
    return venv


def outside_environment() -> dict[str, str]:
    """The environment minus what would point Python or the server elsewhere."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DB_", "PYTHON", "VIRTUAL_ENV"))
    }


def run(python: Path, code: str) -> str:
    result = subprocess.run(
        [str(python), "-c", code],
        env=outside_environment(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip()


def test_the_wheel_ships_every_package_of_the_source_tree(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [path.parent for path in PACKAGE.rglob("__init__.py")]
    assert packages
    for package in packages:
        init = Path("chattree", package.relative_to(PACKAGE), "__init__.py").as_posix()
        assert init in names, f"{package} is missing from [tool.setuptools] packages"
    assert "chattree/py.typed" in names


def test_the_wheel_ships_every_migration_inside_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    scripts = [
        path
        for path in MIGRATIONS.rglob("*")
        if path.suffix in (".py", ".mako") and "__pycache__" not in path.parts
    ]
    assert MIGRATIONS / "env.py" in scripts
    assert any(path.parent.name == "versions" for path in scripts)
    for path in scripts:
        assert f"chattree/migrations/{path.relative_to(MIGRATIONS).as_posix()}" in names


def test_the_wheel_ships_graphiql_and_its_assets(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    static = PACKAGE / "api" / "static"
    files = [path for path in static.rglob("*") if path.is_file()]
    assert static / "ide" / "index.html" in files
    for path in files:
        assert f"chattree/{path.relative_to(PACKAGE).as_posix()}" in names


def test_the_wheel_installs_no_top_level_alembic_package(wheel: Path) -> None:
    # One would shadow the Alembic library itself.
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.split("/")[0] == "alembic"]
    assert "chattree/migrations/__init__.py" not in names


def test_an_installed_wheel_reads_its_migrations_from_the_package(installed: Path) -> None:
    python = installed / "bin" / "python"
    location = Path(
        run(python, "from chattree.db.migrate import script_location; print(script_location())")
    )
    site = Path(run(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])"))
    assert location == site / "chattree" / "migrations"


def test_chattree_migrate_from_an_installed_wheel_builds_the_schema(
    installed: Path, tmp_path: Path
) -> None:
    database = tmp_path / "fresh.db"
    env = outside_environment()
    env["DB_URL"] = f"sqlite+aiosqlite:///{database}"
    result = subprocess.run(
        [str(installed / "bin" / "chattree"), "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        (version,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"users", "conversations", "messages", "server_secrets"} <= tables
    assert version == head_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def test_importing_the_app_computes_no_password_hash() -> None:
    # Hashing with argon2 takes 19 MiB and starts threads; nothing of it happens at import.
    code = (
        "import argon2\n"
        "def refuse(*args, **kwargs):\n"
        "    raise SystemExit('hashed at import')\n"
        "argon2.PasswordHasher.hash = refuse\n"
        "import chattree.app\n"
        "import chattree.services.passwords\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
