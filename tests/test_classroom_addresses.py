"""`make run HOST=0.0.0.0` serves a class: the home page lists the addresses to open, each with a QR code (issue 26)."""
import re
import subprocess
from urllib.parse import unquote

from mlapi.web import classroom


def home(make_app, **config) -> str:
    return make_app(**config).test_client().get("/").get_data(as_text=True)


def test_served_to_every_network_the_home_page_lists_each_address_with_its_qr_code(make_app, monkeypatch):
    monkeypatch.setattr(classroom, "machine_addresses", lambda: ["192.168.0.23", "10.1.2.3"])
    page = home(make_app, LISTEN="0.0.0.0:8000")
    assert "Open it in class" in page
    for url in ("http://192.168.0.23:8000/", "http://10.1.2.3:8000/"):
        assert f'<a href="{url}">{url}</a>' in page
        qr = re.search(rf'<img src="(data:image/svg\+xml[^"]+)" alt="QR code of {re.escape(url)}"', page).group(1)
        assert "<svg" in unquote(qr) and "<path" in unquote(qr)  # drawn here: no request leaves the page


def test_served_to_this_machine_only_it_says_how_to_serve_a_class(make_app):
    page = home(make_app, LISTEN="127.0.0.1:8000")
    assert "make run HOST=0.0.0.0" in page and "data:image/svg" not in page


def test_a_public_url_is_the_one_address_shown(make_app, monkeypatch):
    monkeypatch.setattr(classroom, "machine_addresses", lambda: ["192.168.0.23"])
    page = home(make_app, LISTEN="0.0.0.0:8000", PUBLIC_URL="https://mlapi.escola.example")
    assert "https://mlapi.escola.example/" in page and "192.168.0.23" not in page


def test_started_otherwise_the_home_page_says_nothing_of_it(make_app):
    assert "Open it in class" not in home(make_app)


def test_the_machine_s_addresses_leave_out_loopback():
    assert all(not address.startswith("127.") for address in classroom.machine_addresses())


def test_make_run_passes_the_host_it_binds_to_the_app():
    planned = subprocess.run(["make", "-n", "run", "HOST=0.0.0.0", "PORT=8100"], capture_output=True, text=True,
                             check=True).stdout
    assert "MLAPI_LISTEN=0.0.0.0:8100" in planned and "--bind 0.0.0.0:8100" in planned
