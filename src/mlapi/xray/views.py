"""The example images and the /xray page (upload an image or pick an example)."""
from __future__ import annotations

import base64
from pathlib import Path

from flask import abort, current_app, request
from flask_babel import gettext

from mlapi.web.forms import form_int
from mlapi.web.rendering import api_url, key_line, page_prediction, render_page
from mlapi.xray.examples import examples, png


def example_png(number: int):
    """Example ``number`` (0-11) of the test split, as a PNG."""
    shown = examples(data_dir())
    if not 0 <= number < len(shown):
        abort(404)
    return png(shown[number][0]), 200, {"Content-Type": "image/png", "Cache-Control": "public, max-age=86400"}


def page():
    """Upload an image or pick an example; see the message, the probability, the JSON and curl."""
    shown_examples = examples(data_dir())
    raw, image = chosen_image(shown_examples) if request.method == "POST" else (b"", None)
    shown = page_prediction("xray", {"image": raw}, request.method == "POST")
    return render_page(shown, upload_curl(chosen_example(shown_examples) or 0),
                       examples=[label for _, label in shown_examples], image=image)


def chosen_image(shown) -> tuple[bytes, str | None]:
    """The bytes to classify and a data: URL to show them: an example's, or the upload's."""
    number = chosen_example(shown)
    if number is not None:
        raw = png(shown[number][0])
    else:
        upload = request.files.get("image")
        raw = upload.read() if upload else b""
    mime = "image/png" if raw.startswith(b"\x89PNG") else "image/jpeg"
    shown_url = f"data:{mime};base64,{base64.b64encode(raw).decode()}" if raw else None
    return raw, shown_url


def chosen_example(shown) -> int | None:
    """The number of the example image the form picked, if it picked one."""
    return form_int(request.form.get("example"), None, 0, len(shown) - 1)


def upload_curl(number: int) -> str:
    """curl commands that fetch example ``number`` and upload it, as a student would their own image."""
    json_body = '"{\\"image\\": \\"$(base64 -w0 chest.png)\\"}"'
    api, key = api_url(request.use_case.api_path), "".join(f" {line}" for line in key_line())
    as_json = gettext("or as JSON:")  # outside the f-string, where pybabel finds it
    return (f"curl -s -o chest.png {api_url(f'/xray/examples/{number}.png')}\n"
            f"curl -s -X POST {api}{key} -F image=@chest.png\n"
            f"# {as_json}\ncurl -s -X POST {api}{key} \\\n"
            f"  -H 'Content-Type: application/json' -d {json_body}")


def data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "xray"
