"""The documented examples, built as a new user builds them: ``django-admin startproject``.

Each example directory of ``docs/examples/`` mirrors a project: the test runs
``django-admin startproject mysite`` and ``startapp`` in a temporary directory,
writes every file where the page's caption says (``mysite/settings.py`` is
appended to, as the page says), migrates, runs the system checks, and walks the
flow of ``tests/doc_flows/<example>.py`` through Django's test client.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
FLOWS = Path(__file__).resolve().parent / "doc_flows"
# example -> (the page that shows it, the apps it starts)
PAGES = {
    "quickstart": ("quickstart.rst", ["museum"]),
    "tutorial": ("tutorial.rst", ["museum"]),
    "howtos": ("howto/index.rst", ["accounts", "newsletter", "api", "reports"]),
}
# The how-to guides' modules (docs/snippets/, some also tested in-process by
# test_docs.py and test_howto_multiuse.py) and where each page says they go.
HOWTO_FILES = {
    "apps.py": "accounts/apps.py",
    "password_reset.py": "accounts/password_reset.py",
    "password_reset_django.py": "accounts/password_reset_django.py",
    "email_confirmation.py": "accounts/email_confirmation.py",
    "sign_in_with_code.py": "accounts/sign_in_with_code.py",
    "attempt_limits.py": "accounts/attempt_limits.py",
    "throttle.py": "accounts/throttle.py",
    "audit.py": "accounts/audit.py",
    "unsubscribe.py": "newsletter/unsubscribe.py",
    "api_clients.py": "api/api_clients.py",
    "api_drf.py": "api/api_drf.py",
    "api_ninja.py": "api/api_ninja.py",
    "multi_use.py": "reports/multi_use.py",
    **{
        f"templates/{app}/{path.name}": f"{app}/templates/{app}/{path.name}"
        for app in ("accounts", "newsletter")
        for path in sorted((DOCS / "snippets" / "templates" / app).glob("*.html"))
    },
}


def django_admin() -> list[str]:
    script = Path(sys.executable).parent / "django-admin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "django"]


def run(*args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def example_files(example: str) -> dict[str, str]:
    """Where each file of an example goes in the project -> its text."""
    base = EXAMPLES / example
    files = {
        path.relative_to(base).as_posix(): path.read_text()
        for path in sorted(base.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    if example == "howtos":
        for source, target in HOWTO_FILES.items():
            files[target] = (DOCS / "snippets" / source).read_text()
    return files


def build(tmp_path: Path, example: str) -> Path:
    """startproject, startapp, write the example's files, migrate, check."""
    run(*django_admin(), "startproject", "mysite", cwd=tmp_path)
    project = tmp_path / "mysite"
    for app in PAGES[example][1]:
        run(sys.executable, "manage.py", "startapp", app, cwd=project)
    for relative, text in example_files(example).items():
        target = project / relative
        if relative == "mysite/settings.py":
            target.write_text(target.read_text() + "\n" + text)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    run(sys.executable, "manage.py", "migrate", cwd=project)
    run(sys.executable, "manage.py", "check", "--fail-level", "WARNING", cwd=project)
    shutil.copy(FLOWS / "common.py", project / "common.py")
    return project


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    """Each example built once for this module, on first use."""
    built: dict[str, Path] = {}

    class Projects(dict):
        def __missing__(self, example: str) -> Path:
            built[example] = build(tmp_path_factory.mktemp(example), example)
            self[example] = built[example]
            return built[example]

    return Projects()


@pytest.mark.parametrize("example", sorted(PAGES))
def test_example_project_runs_as_documented(projects, example):
    output = run(sys.executable, str(FLOWS / f"{example}.py"), cwd=projects[example])
    assert "FLOW OK" in output


def test_tutorial_project_issues_links_from_the_command_line(projects):
    project = projects["tutorial"]
    output = run(
        sys.executable,
        "manage.py",
        "ticketoffice_issue",
        "--place=museum",
        "--purpose=visit",
        '--data={"first_name": "Ada"}',
        cwd=project,
    )
    assert output.startswith("http://127.0.0.1:8000/museum/visit/?ticket="), output


@pytest.mark.parametrize("example", sorted(PAGES))
def test_page_shows_every_file_where_it_goes(example):
    """Each file is included by its page, under a caption naming where it goes."""
    page = (DOCS / PAGES[example][0]).read_text()
    shown = {}
    for match in re.finditer(
        rf"literalinclude:: (?:\.\./)?examples/{example}/(\S+)\n((?:[ \t]+:[^\n]*\n)*)", page
    ):
        caption = re.search(r":caption: ([^\n]+)", match.group(2))
        assert caption, f"{match.group(1)} has no caption naming its file"
        assert caption.group(1).split(" ")[0] == match.group(1), caption.group(0)
        shown[match.group(1)] = caption.group(1)
    own = {p.relative_to(EXAMPLES / example).as_posix() for p in (EXAMPLES / example).rglob("*.*")}
    assert set(shown) == own
    assert shown["mysite/settings.py"] == "mysite/settings.py (append)"


def test_readme_example_is_the_quickstart_project():
    """The README cannot include files (it is the PyPI page): its blocks are compared."""
    readme = (ROOT / "README.rst").read_text()
    blocks = {}
    block = re.compile(
        r"``(?P<path>[\w/.]+)``[^\n]*:\n\n"
        r"\.\. code-block:: [\w+-]+\n\n"
        r"(?P<body>(?:(?: {4}.*)?\n)+)"
    )
    for match in block.finditer(readme):
        blocks[match.group("path")] = textwrap.dedent(match.group("body")).strip("\n") + "\n"
    files = example_files("quickstart")
    assert set(blocks) == set(files)
    for path, text in files.items():
        assert blocks[path] == text, path


def test_howto_pages_say_where_each_file_goes():
    """Every include of a how-to names where its file goes; every module is shown whole."""
    shown: dict[str, set[str]] = {}
    whole = set()
    for page in sorted((DOCS / "howto").glob("*.rst")):
        text = page.read_text()
        includes = re.findall(r"literalinclude:: (\S+)\n((?:[ \t]+:[^\n]*\n)*)", text)
        assert len(includes) == text.count("literalinclude::"), page.name
        for source, options in includes:
            caption = re.search(r":caption: ([^\n]+)", options)
            assert caption, f"{page.name}: {source} has no caption naming its file"
            if source.startswith("../snippets/"):
                name = source.removeprefix("../snippets/")
                assert caption.group(1) == HOWTO_FILES[name], f"{page.name}: {caption.group(0)}"
                shown.setdefault(name, set()).add(page.name)
                if ":start-" not in options and ":end-" not in options:
                    whole.add(name)
            else:
                # The project's own files (docs/examples/howtos/), shown whole or in part.
                assert source.startswith("../examples/howtos/"), f"{page.name}: {source}"
                target = source.removeprefix("../examples/howtos/")
                assert (EXAMPLES / "howtos" / target).is_file(), source
                expected = f"{target} (append)" if target == "mysite/settings.py" else target
                assert caption.group(1) == expected, f"{page.name}: {caption.group(0)}"
    assert set(shown) == set(HOWTO_FILES)
    assert whole == set(HOWTO_FILES), "some module is only shown in parts"


def test_howto_shell_commands_run_in_the_project(projects, tmp_path):
    """The ``manage.py shell -c`` lines of the how-tos print what the pages show."""
    # A copy: the tickets issued here stay out of the flows' database.
    project = shutil.copytree(projects["howtos"], tmp_path / "mysite")
    pages = "\n".join(path.read_text() for path in sorted((DOCS / "howto").glob("*.rst")))
    commands = re.findall(
        r'^ +\$ .*?python manage\.py shell -c "([^"]+)"\)?\n(?: +([^$\n]+)\n)?', pages, re.M
    )
    assert len(commands) >= 2, commands
    for code, shown in commands:
        output = run(sys.executable, "manage.py", "shell", "-c", code, cwd=project)
        printed = output.strip().splitlines()[-1]
        if shown and not shown.startswith("$"):
            prefix = shown.strip().split("...")[0]
            assert printed.startswith(prefix), (code, printed)
        assert printed, code
