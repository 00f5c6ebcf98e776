"""Chest X-ray classification: pneumonia or normal, with the probability."""
from mlapi.usecase import Route, UseCase
from mlapi.web.i18n import N_
from mlapi.xray import model, publishing, views
from mlapi.xray.schemas import XrayRequest, XrayResult

# Test-split image 0 of PneumoniaMNIST (label: pneumonia), as a client sends it: a base64 PNG.
EXAMPLE_IMAGE = (
    "iVBORw0KGgoAAAANSUhEUgAAABwAAAAcCAAAAABXZoBIAAACMUlEQVR42gXByXLbRhAA0N5mBgAByAIpO17KJZ/8F678/z0nV+WY"
    "lBKLFEns09Pt9/DHX/q5PX3/+ABIwprRfv7c973e9mkR6LCNuFwqcGCxPG6/yqGZuZuZJHzpnuqmZQErAF4SfTyF+QYojqJVJe3Q"
    "eBQvSJvfwmPKvhQtkOShkuJgoCIEUNZ/wvC+Gcp5GleS/o+W4/6vfgsBCNnj8ladTn7RbWXBdijzy6/4FZAl2Nq5/r88AbBtKB8e"
    "6Xy+1M/FDClUTZfK/Xx4+HSD7GLNdrXe93eAVUTu6X4JYfaD+FbJOm5LpurgQEREWKvF21WPvSwmra/rQqQOJIxED9LtOKm8C9Ms"
    "j7ZqcVMgEQGWm3ou5WZDy6vQ9c1i6hpiYQLmnnSG+nwtXZ9F1tXdRUSYEEgm2sdM+2tKh7MEs7JsnYowASA3hpRlwNz3KHlXnaQE"
    "JgIARM+ewOv60j7Wcr1OFHz8TxoADEUVXLnnub6fIkWczqXFFzN3N4PACFZUU//+KK8W171CMHcAc3R3d0B65XCUlwlqq6pA7oiA"
    "XEpxdwcYPYi+wYdjl1RAjRCI0FXXceaNWbY0PPcSkXVhBDcidF3H8e/8tRP58vxkVOG0OWK0shUQKJvdt1zxn8djcxjkAlo4YNG7"
    "QqxiSIPVmwyfe6D7ltwkohYPECvwxNidXSIVZRChwikA+oKOAmSOe5ZEeZUUKiwU2d0JAIADtLRnYdCMwEER3cxADBRKQRGR3+cn"
    "S4R/Hg6lAAAAAElFTkSuQmCC"
)


def kept(result: dict) -> dict:
    """What the prediction log keeps of an answer, for feedback: the label and its probability."""
    return {"label": result["label"], "score": result["probability"]}


use_case = UseCase(
    name="xray",
    title=N_("Chest X-ray"),
    description=N_(
        "Reads a chest X-ray (PNG or JPEG; it is reduced to 28x28 grey levels like the training images) "
        "and gives the probability that it is compatible with pneumonia. A teaching demo, not a medical device."
    ),
    train=model.train,
    predict=model.predict,
    outcome=model.outcome,
    kept=kept,
    request_schema=XrayRequest,
    response_schema=XrayResult,
    example={"image": EXAMPLE_IMAGE},
    headline_metric="roc_auc",
    max_body_bytes=6 * 1024 * 1024,
    upload_field="image",
    model_types=frozenset({"mlapi.xray.model.PatchFeatures", "mlapi.xray.model.XrayModel",
                           "mlapi.xray.model.Familiarity"}),
    package=__name__,
    publishing=publishing.publishing,
    page=views.page,
    routes=(Route("/xray/examples/<int:number>.png", views.example_png, free=True),),
)
