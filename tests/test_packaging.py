"""What pip installs: a final version above 0.2, and archives that carry what they promise.

The sdist is built from this tree and the wheel from the sdist, as ``python -m
build`` does for a release, without network access (``--no-isolation``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_a_final_release_that_pip_prefers_to_0_2():
    current = Version(version("django-ticketoffice"))
    # pip skips pre-releases (1.0.0.dev0, 1.0.0rc1) unless asked: 0.2 would win.
    assert not current.is_prerelease and not current.is_devrelease
    assert current >= Version("1.0")
    import django_ticketoffice

    assert django_ticketoffice.__version__ == str(current)


@pytest.fixture(scope="module")
def archives(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "dir": out}


def test_wheel_carries_the_license_catalogs_templates_and_static_files(archives):
    names = set(zipfile.ZipFile(archives["wheel"]).namelist())
    dist_info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
    assert f"{dist_info}/licenses/LICENSE" in names
    for language in ("fr", "de"):
        assert f"django_ticketoffice/locale/{language}/LC_MESSAGES/django.mo" in names
    assert "django_ticketoffice/static/django_ticketoffice/admin/ticketoffice.js" in names
    assert "django_ticketoffice/templates/ticketoffice/403.html" in names
    assert "django_ticketoffice/templates/admin/django_ticketoffice/ticket/issued.html" in names
    assert "django_ticketoffice/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "demo/", "benchmarks/"))]
    metadata = zipfile.ZipFile(archives["wheel"]).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata


def test_sdist_ships_a_runnable_test_suite(archives, tmp_path):
    with tarfile.open(archives["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
        sdist.extractall(tmp_path, filter="data")
    for needed in (
        "LICENSE",
        "README.rst",
        ".ci/run",
        "tests/conftest.py",
        "tests/settings.py",
        "tests/urls.py",
        "tests/migrations/0001_initial.py",
        "demo/settings.py",
        "docs/examples/tutorial/museum/views.py",
        "django_ticketoffice/locale/fr/LC_MESSAGES/django.mo",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".sqlite3"))]
    (unpacked,) = tmp_path.iterdir()
    # On SQLite: a PostgreSQL run must not see its test database created and dropped.
    outer = {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "TEST_DATABASE_NAME"}
    env = {k: v for k, v in os.environ.items() if k not in outer}

    def pytest_in_sdist(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
            cwd=unpacked,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    # Every test module imports there (its conftest, settings and helpers are shipped)...
    collected = pytest_in_sdist("--collect-only", "tests")
    assert collected.returncode == 0, collected.stdout[-3000:]
    assert " errors" not in collected.stdout
    # ... and a sample runs against the sdist's own copy of the package.
    result = pytest_in_sdist(
        "tests/test_models.py",
        "tests/test_checks.py",
        "tests/test_readme.py",
        "tests/test_refusal_pages.py",
        "-k",
        "not cover_every",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    probe = subprocess.run(
        [sys.executable, "-c", "import django_ticketoffice; print(django_ticketoffice.__file__)"],
        cwd=unpacked,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(unpacked)
