"""``pip install .`` (not editable) into a fresh venv serves every page, from outside the checkout.

The package carries its own templates, static files and translations (setup.cfg's package_data); this installs the
checkout, as a clean clone of it would be, into a new virtual environment, starts that environment's
gunicorn in an empty folder elsewhere on trained artifacts, and asks for every page. A second check
builds the sdist and looks at what it holds (MANIFEST.in).

Cost, measured on the 2-core machine that runs ``make test``: about 50 s in all. 40 s of it make the
venv and ``pip install`` into it: the dependencies (about 30 MB downloaded, 500 MB unpacked; pip keeps
no HTTP cache of them here) and building mlapi's wheel, with its sentiment kernel compiled. The sdist
check takes 4 s and the pages 5 s. The dependencies are pinned to the versions of the venv running the
tests, so this checks the packaging, not the newest release of each dependency; pip takes them from the
package index (or the machine's local wheel folders), as ``make install`` does.
"""
from __future__ import annotations

import http.client
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import pytest

from tests.servers import free_port, reachable

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mlapi"
INSTALL_SECONDS = 600  # a cold install takes well under a minute here; a stalled index fails the test, not CI


def package_data() -> list[str]:
    """Every template, static file and translation of the package, as paths inside it (mlapi/...)."""
    files = [path.relative_to(PACKAGE) for path in PACKAGE.rglob("*") if path.is_file()]
    return sorted(str(path) for path in files if {"templates", "static", "translations"} & set(path.parts[:-1])
                  and "__pycache__" not in path.parts)


def checkout_files() -> list[str]:
    """What a clean clone of the working tree holds: tracked files and new ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return [name for name in listed.split("\0") if name and (ROOT / name).is_file()]  # not files deleted since


def clean_clone(destination: Path) -> Path:
    """A copy of the checkout without what is built or ignored (.venv, artifacts, var, build, *.so, egg-info)."""
    for name in checkout_files():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, destination / name)
    return destination


def outside_environment() -> dict[str, str]:
    """This process's environment, less what would point a child at the checkout or at a developer's settings."""
    return {name: value for name, value in os.environ.items()
            if not name.startswith("MLAPI_") and name not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}


def run(command: list, log: Path, **options) -> float:
    """Run ``command`` with its output in ``log``; its duration in seconds. Fails the test with the log's end."""
    started = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_SECONDS, **options)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{log.read_text()[-4000:]}"
    return time.monotonic() - started


def pins(folder: Path) -> Path:
    """A pip constraints file: every distribution of the venv running the tests, at its version."""
    skip = {"mlapi", "pip", "setuptools", "wheel"}
    lines = sorted({f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
                    if dist.metadata["Name"] and dist.metadata["Name"].lower() not in skip})
    path = folder / "constraints.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory) -> Path:
    """A new venv (its own pip, nothing else) into which ``pip install <clean clone>`` installed mlapi."""
    folder = tmp_path_factory.mktemp("install")
    source = clean_clone(folder / "mlapi")
    venv = folder / "venv"
    environment = outside_environment()
    seconds = run([sys.executable, "-m", "venv", venv], folder / "venv.log", env=environment)
    seconds += run([venv / "bin" / "python", "-m", "pip", "install", "--constraint", pins(folder), str(source)],
                   folder / "pip-install.log", cwd=folder, env=environment)
    print(f"fresh venv and pip install: {seconds:.1f} s")
    return venv


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory) -> Path:
    """An empty working directory outside the checkout: the installed app's project root."""
    return tmp_path_factory.mktemp("elsewhere")


@pytest.fixture(scope="module")
def settings(trained_dir, tmp_path_factory, elsewhere) -> dict[str, str]:
    """The environment of the installed app: trained artifacts, the repository's data, its state in tmp."""
    state = tmp_path_factory.mktemp("installed_state")
    artifacts = shutil.copytree(trained_dir, state / "artifacts")
    return {**outside_environment(),
            "MLAPI_ARTIFACTS_DIR": str(artifacts),
            "MLAPI_DATA_DIR": str(ROOT / "data"),
            "MLAPI_DATABASE_URL": f"sqlite:///{state / 'mlapi.db'}",
            "MLAPI_RATELIMIT_STORAGE": f"mlapi+lmdb:///{state / 'ratelimits'}?map_mb=1"}


@pytest.fixture(scope="module")
def server(fresh_venv, settings, elsewhere, tmp_path_factory) -> int:
    """The fresh venv's gunicorn serving the installed app from ``elsewhere``; its port."""
    port = free_port()
    log = tmp_path_factory.mktemp("installed_server") / "gunicorn.log"
    command = [fresh_venv / "bin" / "gunicorn", "--workers", "1", "--threads", "4",
               "--worker-class", "mlapi.server.gunicorn_worker.ThreadWorker",
               "--bind", f"127.0.0.1:{port}", "mlapi:create_app()"]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=elsewhere, env=settings, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not reachable("127.0.0.1", port):
            assert process.poll() is None and time.monotonic() < deadline, \
                f"the installed gunicorn did not start:\n{log.read_text()[-4000:]}"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def fetch(port: int, method: str, path: str, body: dict | None = None,
          headers: dict | None = None) -> tuple[int, str, bytes]:
    """One request: status, Content-Type, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {**({"Content-Type": "application/json"} if body is not None else {}), **(headers or {})}
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    answer = response.status, response.getheader("Content-Type", ""), response.read()
    connection.close()
    return answer


def test_the_installed_copy_is_the_one_imported(fresh_venv, settings, elsewhere):
    script = ("import json, mlapi, mlapi.config; "
              "print(json.dumps([mlapi.__file__, str(mlapi.config.PROJECT_ROOT)]))")
    done = subprocess.run([fresh_venv / "bin" / "python", "-c", script], cwd=elsewhere, env=settings,
                          capture_output=True, text=True, check=True)
    module, project_root = json.loads(done.stdout)
    assert Path(module).is_relative_to(fresh_venv / "lib"), module
    assert not Path(module).resolve().is_relative_to(ROOT)
    assert Path(project_root) == elsewhere  # an installed copy's data/, artifacts/, var/ default to the cwd


def test_every_template_and_static_file_is_installed(fresh_venv):
    expected = package_data()
    pages = [f"{name}/templates/{name}/page.html" for name in ("sentiment", "recommend", "xray", "demand", "fraud")]
    assert {"web/templates/base.html", "web/static/css/mlapi.css", "recommend/static/recommend.js",
            "translations/pt_BR/LC_MESSAGES/messages.mo", *pages} <= set(expected)
    installed = next((fresh_venv / "lib").glob("python3*/site-packages"))
    for name in expected:
        assert (installed / "mlapi" / name).read_bytes() == (PACKAGE / name).read_bytes(), name
    assert not (installed / "tests").exists() and not (installed / "data").exists()
    assert not list((installed / "mlapi").rglob("*.csv")) and not list((installed / "mlapi").rglob("*.skops"))


PAGES = {
    "/": ["<h1>Trained models, ready to use</h1>", '<a href="/sentiment">', '<a href="/fraud">'],
    "/sentiment": ["<h1>Sentiment analysis</h1>", "Try an example"],
    "/recommend": ["<h1>Movie recommendations</h1>", 'src="/static/recommend/recommend.js"'],
    "/xray": ["<h1>Chest X-ray</h1>", 'src="/xray/examples/0.png"'],
    "/demand": ["<h1>Demand forecast</h1>", "<option value="],
    "/fraud": ["<h1>Card fraud</h1>", 'name="example" value="0"'],
    "/models": ["<h1>Models and versions</h1>", "<strong>(active)</strong>"],
    "/monitor": ["<h1>What the service is doing right now</h1>", 'id="monitor-sentiment"'],
    "/api/docs": ["<h1>API documentation</h1>", "swagger-ui-bundle.js"],
}


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_with_its_content(server, path):
    status, content_type, body = fetch(server, "GET", path)
    page = body.decode()
    assert status == 200, page[-2000:]
    assert content_type.startswith("text/html")
    for text in [*PAGES[path], 'href="/static/css/mlapi.css"', "</html>"]:  # base.html, from the package
        assert text in page, f"{path} lacks {text!r}"
    if path == "/":
        assert "not trained" not in page


def test_a_page_in_portuguese_from_the_installed_catalog(server):
    status, _, body = fetch(server, "GET", "/sentiment", headers={"Accept-Language": "pt-BR"})
    page = body.decode()
    assert status == 200 and '<html lang="pt-BR">' in page and "<h1>Análise de sentimento</h1>" in page


@pytest.mark.parametrize("path, source", [
    ("/static/css/mlapi.css", PACKAGE / "web/static/css/mlapi.css"),
    ("/static/js/copy.js", PACKAGE / "web/static/js/copy.js"),
    ("/static/img/favicon.svg", PACKAGE / "web/static/img/favicon.svg"),
    ("/static/recommend/recommend.js", PACKAGE / "recommend/static/recommend.js"),
    ("/docs/swagger-ui/swagger-ui-bundle.js", None),  # from the swagger-ui-bundle-v2 dependency
])
def test_static_files_are_served(server, path, source):
    status, _, body = fetch(server, "GET", path)
    assert status == 200, path
    if source is not None:
        assert body == source.read_bytes()
    else:
        assert len(body) > 100_000


def test_a_sentiment_prediction(server):
    status, content_type, body = fetch(server, "POST", "/api/v1/sentiment", {"text": "Thanks, the crew was great"})
    assert status == 200, body
    assert content_type.startswith("application/json")
    answer = json.loads(body)
    assert answer["label"] in {"positive", "neutral", "negative"}
    assert answer["model"] == {"name": "sentiment", "version": "v1"}
    assert set(answer["probabilities"]) == {"positive", "neutral", "negative"}


def test_the_sdist_holds_what_builds_the_wheel_and_nothing_else(tmp_path):
    """The sdist (what a package index would serve) carries every template and static file and the kernel's
    source, and none of the tests, data, artifacts or build products."""
    source = clean_clone(tmp_path / "mlapi")
    builder, out = tmp_path / "builder", tmp_path / "dist"
    environment = outside_environment()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    run([sys.executable, "-m", "venv", "--without-pip", builder], tmp_path / "venv.log", env=environment)
    run([sys.executable, "-m", "pip", "--python", builder / "bin" / "python", "install", *requires],
        tmp_path / "pip.log", env=environment)
    run([builder / "bin" / "python", "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(out)!r})"],
        tmp_path / "sdist.log", cwd=source, env=environment)
    (sdist,) = out.glob("mlapi-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"src/mlapi/{name}" for name in package_data()} <= names
    assert {"src/mlapi/sentiment/_kernel.pyx", "setup.py", "setup.cfg", "pyproject.toml"} <= names
    unwanted = [name for name in names if name.startswith(("tests/", "data/", "artifacts/", "var/", "bench/"))
                or name.endswith((".so", ".pyc", ".c"))]
    assert unwanted == []
