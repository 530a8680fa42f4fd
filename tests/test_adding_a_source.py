"""The steps of docs/adding-a-source.md, followed with the real `kazinform` command on a sample page of
an outlet no source knows: scaffold, add the page as a fixture, fill the selectors in the generated
parser file as a person would, regenerate, then parse and list the source.

Each test works in a copy of the project's packages in a temporary folder (the commands write into
parsers/publishers/ and tests/ of the checkout they run from), so nothing is left in the repository.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flows.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
KAZINFORM = Path(sys.executable).parent / "kazinform"
PACKAGES = ("parsers", "flows", "crawler", "warehouse", "replica")
COMMAND_TIMEOUT_S = 120  # one command on a loaded machine; they take 1–3 s
NAME = "steppe_herald"
HOST = "www.steppeherald.kz"
URL = f"https://{HOST}/news/ekibastuz-power-plant-unit-restarted-48213/"

# A page in a markup no general selector knows: the body is `div.story-text`, the tags a list.
SAMPLE_PAGE = """<!DOCTYPE html>
<html lang="ru"><head><meta charset="utf-8">
<title>Энергоблок Экибастузской ГРЭС вновь в работе | Steppe Herald</title>
<meta property="og:title" content="Энергоблок Экибастузской ГРЭС вновь в работе">
</head><body>
<header class="site-head"><a href="/">Steppe Herald</a><nav><a href="/news/">Новости</a></nav></header>
<div class="story">
  <div class="story-rubric"><a href="/economy/">Экономика</a></div>
  <h1 class="story-headline">Энергоблок Экибастузской ГРЭС вновь в работе</h1>
  <p class="story-standfirst">Ремонт восьмого блока закончили на две недели раньше срока.</p>
  <div class="story-when">12.03.2026, 14:05</div>
  <div class="story-byline">Текст: <span class="byline-name">Айгерим Садыкова</span></div>
  <div class="story-text">
    <p>Восьмой энергоблок Экибастузской ГРЭС-1 снова выдаёт мощность в сеть после капитального ремонта.</p>
    <p>По данным станции, блок мощностью 500 МВт включили в сеть в среду вечером.</p>
    <p>Зимой станция работала на пределе из-за морозов и роста потребления.</p>
  </div>
  <ul class="story-topics"><li><a href="/tag/energetika/">Энергетика</a></li>
    <li><a href="/tag/ekibastuz/">Экибастуз</a></li></ul>
</div>
<footer class="site-foot">© Steppe Herald. Подписывайтесь на наш канал.</footer>
</body></html>
"""

# What the person fills in the generated parser file: placeholder → this site's selector.
FILLED_SELECTORS = {
    '"article.fill-in-marker"': '"div.story-text"',
    '"article.fill-in-article"': '"div.story"',
    '"h1.fill-in-title"': '"h1.story-headline"',
    '".fill-in-lead"': '"p.story-standfirst"',
    '"div.fill-in-body"': '"div.story-text"',
    '"time.fill-in-date"': '"div.story-when"',
    '".fill-in-tags a"': '"ul.story-topics a"',
    '".fill-in-author"': '".story-byline .byline-name"',
    '".fill-in-section"': '".story-rubric a"',
}


def _copy_project(target: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(REPO / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "pyproject.toml", target / "pyproject.toml")  # ruff's and pytest's settings
    (target / "tests" / "fixtures").mkdir(parents=True)
    return target


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _copy_project(tmp_path / "project")


def kazinform(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed command, importing the copy's packages (PYTHONPATH comes before the venv's
    own path to the checkout)."""
    environment = {**os.environ, "PYTHONPATH": str(project)}
    environment.pop("KAZINFORM_BASE_URL", None)  # real addresses unless the test gives a mirror
    environment.update(env or {})
    return subprocess.run(
        [str(KAZINFORM), *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )


def fill_selectors(module: Path) -> None:
    text = module.read_text(encoding="utf-8")
    for placeholder, selector in FILLED_SELECTORS.items():
        assert placeholder in text, f"the scaffold has no placeholder {placeholder}"
        text = text.replace(placeholder, selector)
    module.write_text(text, encoding="utf-8")


def test_the_documented_steps_add_a_source(project: Path, tmp_path: Path) -> None:
    # 1. scaffold
    made = kazinform(project, "new-source", NAME, "--host", HOST, "--feed", f"https://{HOST}/rss")
    assert made.returncode == 0, made.stderr
    module = project / "parsers" / "publishers" / f"{NAME}.py"
    test_file = project / "tests" / f"test_source_{NAME}.py"
    assert module.exists() and test_file.exists() and (project / "tests" / "fixtures" / NAME).is_dir()
    lint = subprocess.run(
        [str(KAZINFORM.parent / "ruff"), "check", str(module), str(test_file)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    # The source works on day one (ArticleParser's general selectors) and is listed without fixtures.
    listed = json.loads(kazinform(project, "sources", "--format", "json").stdout)
    ours = next(s for s in listed if s["name"] == NAME)
    assert ours["fixtures"] == 0 and ours["feeds"] == [f"https://{HOST}/rss"]

    # 2. add the sample page as a fixture
    sample = tmp_path / "sample.html"
    sample.write_text(SAMPLE_PAGE, encoding="utf-8")
    added = kazinform(project, "fixture", "add", NAME, str(sample), "--url", URL, "--name", "power_plant")
    stored = project / "tests" / "fixtures" / NAME / "power_plant.html.gz"
    assert stored.exists(), added.stdout + added.stderr
    assert gzip.decompress(stored.read_bytes()).decode("utf-8") == SAMPLE_PAGE
    meta = json.loads(stored.with_name("power_plant.meta.json").read_text(encoding="utf-8"))
    assert meta["url"] == URL and meta["added"]

    # 3. fill the selectors, as a person would, and regenerate the expected record
    fill_selectors(module)
    regenerated = kazinform(project, "fixture", "regenerate", NAME)
    assert regenerated.returncode == 0, regenerated.stdout + regenerated.stderr
    expected = json.loads(stored.with_name("power_plant.json").read_text(encoding="utf-8"))
    version = expected["parser"].split("@")[1]
    assert expected["parser"] == f"{NAME}@{version}" and version.endswith(".1")
    assert expected["source"] == NAME
    assert expected["article_id"] == "48213"
    assert expected["title"] == "Энергоблок Экибастузской ГРЭС вновь в работе"
    assert expected["lead"] == "Ремонт восьмого блока закончили на две недели раньше срока."
    assert expected["authors"] == ["Айгерим Садыкова"]
    assert expected["tags"] == ["Энергетика", "Экибастуз"]
    assert expected["category"] == "Экономика"
    assert expected["published_at"] == "2026-03-12T09:05:00Z"  # 14:05 in Astana
    assert expected["body"].startswith("Восьмой энергоблок") and "Подписывайтесь" not in expected["body"]
    assert expected["body"].count("\n\n") == 2  # the three paragraphs, nothing else

    # 4. the parse command reads the page by its address, with the new parser version
    parsed = kazinform(project, "parse", str(sample), "--url", URL)
    assert parsed.returncode == 0, parsed.stderr
    record = json.loads(parsed.stdout)
    assert record["parser"] == f"{NAME}@{version}"
    assert {k: record[k] for k in expected} == expected

    # 5. sources lists it with its parser version and one fixture page
    listed = json.loads(kazinform(project, "sources", "--format", "json").stdout)
    ours = next(s for s in listed if s["name"] == NAME)
    assert ours["fixtures"] == 1 and not ours["generic"]
    assert [p["id"] for p in ours["parsers"]] == [f"{NAME}@{version}"]
    table = kazinform(project, "sources").stdout
    assert f"{NAME} — {HOST}" in table and f"{NAME}@{version}" in table

    # 6. the generated fixture test passes on the reviewed record
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " passed" in tested.stdout and "failed" not in tested.stdout

    # 7. a parser change shows as a field-by-field diff; --check writes nothing and exits 1
    text = module.read_text(encoding="utf-8")
    module.write_text(text.replace('"ul.story-topics a"', '"ul.story-topics li:first-child a"'), "utf-8")
    before = stored.with_name("power_plant.json").read_bytes()
    checked = kazinform(project, "fixture", "regenerate", NAME, "--check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"changed   {NAME}/power_plant" in checked.stdout
    assert 'tags: ["Энергетика", "Экибастуз"] → ["Энергетика"]' in checked.stdout
    assert stored.with_name("power_plant.json").read_bytes() == before
    failing = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert failing.returncode == 1 and "power_plant-tags" in failing.stdout


def test_new_source_refuses_a_taken_name_or_host(project: Path) -> None:
    taken_host = kazinform(project, "new-source", "second_tengri", "--host", "kaz.tengrinews.kz")
    assert taken_host.returncode == 2
    assert taken_host.stderr.strip().splitlines() == [
        "kazinform: host kaz.tengrinews.kz is already claimed by source 'tengrinews'"
    ]
    taken_name = kazinform(project, "new-source", "kazinform", "--host", "news.example.org")
    assert taken_name.returncode == 2 and len(taken_name.stderr.strip().splitlines()) == 1
    assert "'kazinform' exists already" in taken_name.stderr
    assert not (project / "parsers" / "publishers" / "second_tengri.py").exists()
    assert not (project / "tests" / "test_source_kazinform.py").exists()


class _Mirror(BaseHTTPRequestHandler):
    """A mirror serving the sample page at the address a mirror gives it: /{host}/path."""

    def do_GET(self) -> None:  # noqa: N802 (the handler's name is http.server's)
        if self.path == f"/{HOST}/news/ekibastuz-power-plant-unit-restarted-48213/":
            body, status = SAMPLE_PAGE.encode("utf-8"), 200
        else:
            body, status = b"not here", 404
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fixture_add_fetches_an_address_and_keeps_the_real_one(project: Path, mirror: str) -> None:
    assert kazinform(project, "new-source", NAME, "--host", HOST).returncode == 0
    mirrored = f"{mirror}/{HOST}/news/ekibastuz-power-plant-unit-restarted-48213/"
    added = kazinform(project, "fixture", "add", NAME, mirrored, env={"KAZINFORM_BASE_URL": mirror})
    assert added.returncode == 0, added.stdout + added.stderr
    folder = project / "tests" / "fixtures" / NAME
    name = "ekibastuz-power-plant-unit-restarted-48213"
    meta = json.loads((folder / f"{name}.meta.json").read_text(encoding="utf-8"))
    assert meta["url"] == URL  # the mirror's address moved back to the outlet's own
    assert meta["fetched"].endswith("Z")
    assert gzip.decompress((folder / f"{name}.html.gz").read_bytes()).decode("utf-8") == SAMPLE_PAGE
    # Read by the scaffold's general selectors before any is filled: the source works on day one.
    expected = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    assert expected["source"] == NAME and expected["article_id"] == "48213"
    assert expected["title"] == "Энергоблок Экибастузской ГРЭС вновь в работе"
    assert "title" in added.stdout and "Энергоблок" in added.stdout

    again = kazinform(project, "fixture", "add", NAME, mirrored, env={"KAZINFORM_BASE_URL": mirror})
    assert again.returncode == 2 and "already has a fixture named" in again.stderr

    gone = f"{mirror}/{HOST}/news/gone-1/"
    missing = kazinform(project, "fixture", "add", NAME, gone, env={"KAZINFORM_BASE_URL": mirror})
    assert missing.returncode == 2 and f"cannot fetch {gone}: HTTP 404" in missing.stderr


def test_every_command_in_the_guide_is_one_the_cli_takes() -> None:
    guide = (REPO / "docs" / "adding-a-source.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sh\n(.*?)```", guide, flags=re.DOTALL)
    commands = [
        shlex.split(line.split("  #")[0])
        for block in blocks
        for line in block.splitlines()
        if line.startswith("kazinform ")
    ]
    assert {c[1] for c in commands} >= {"new-source", "fixture", "parse", "sources", "crawl"}
    for command in commands:
        build_parser().parse_args(command[1:])  # exits with status 2 on a command it does not take
