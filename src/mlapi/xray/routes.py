"""POST /api/v1/xray (JSON base64 or multipart upload), the example images and the /xray page."""
from __future__ import annotations

import base64
from pathlib import Path

from flask import abort, current_app, jsonify, render_template, request

from mlapi import service
from mlapi.errors import ValidationFailed
from mlapi.forms import form_int
from mlapi.pages import KEY_HEADER, api_url, page_prediction, pretty_json
from mlapi.xray import bp, use_case
from mlapi.xray.examples import examples, png

API_PATH = "/api/v1/xray"


@bp.post(API_PATH)
def predict_json():
    """Classify ``{"image": base64}``, ``{"images": [...]}`` or a multipart file field ``image``."""
    if request.mimetype == "multipart/form-data":
        return jsonify(service.predict("xray", uploaded_payload()))
    return jsonify(service.predict("xray", service.json_payload()))


def uploaded_payload() -> dict:
    """The multipart upload as a payload for the same schema (raw bytes instead of base64).

    :raises ValidationFailed: no file field ``image`` (422).
    """
    field = use_case.upload_field
    upload = request.files.get(field)
    if upload is None or not upload.filename:
        raise ValidationFailed(f"Attach the file in a multipart field named '{field}'.", {field: ["No file sent."]})
    return {field: upload.read()}


@bp.get("/xray/examples/<int:number>.png")
def example_png(number: int):
    """Example ``number`` (0-11) of the test split, as a PNG."""
    shown = examples(data_dir())
    if not 0 <= number < len(shown):
        abort(404)
    return png(shown[number][0]), 200, {"Content-Type": "image/png", "Cache-Control": "public, max-age=86400"}


@bp.route("/xray", methods=["GET", "POST"])
def page():
    """Upload an image or pick an example; see the message, the probability, the JSON and curl."""
    shown = examples(data_dir())
    raw, image = chosen_image(shown) if request.method == "POST" else (b"", None)
    result, errors, status = page_prediction("xray", {"image": raw}, request.method == "POST")
    return render_template(
        "xray/page.html",
        examples=[label for _, label in shown],
        image=image,
        result=result,
        errors=errors,
        result_json=pretty_json(result) if result else None,
        curl=upload_curl(chosen_example(shown) or 0),
    ), status


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
    return (f"curl -s -o chest.png {api_url(f'/xray/examples/{number}.png')}\n"
            f"curl -s -X POST {api_url(API_PATH)} {KEY_HEADER} -F image=@chest.png\n"
            f"# or as JSON:\ncurl -s -X POST {api_url(API_PATH)} {KEY_HEADER} \\\n"
            f"  -H 'Content-Type: application/json' -d {json_body}")


def data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"]) / "xray"
