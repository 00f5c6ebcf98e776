"""The X-ray upload's preprocessing on hostile and ordinary files, before and after the decoding budget.

For each file, and for each version of ``src/mlapi/xray/imaging.py`` (the one before the budget, by
``git show BEFORE:...``, or at another revision given, and the working tree's), a fresh process runs ``preprocess`` and
reports the outcome, the seconds it took and the growth of its peak RSS. The peak is VmHWM of
/proc/self/status (Linux): ru_maxrss would start at this script's own peak, since subprocess starts
its children by vfork. A run over the timeout is stopped and shown as such. Prints one table.

    .venv/bin/python bench/hostile_images.py [old revision, default BEFORE] [timeout seconds, default 300]
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from mlapi.xray import EXAMPLE_IMAGE  # noqa: E402
from tests.xray.test_hostile_images import scan_bomb, sixteen_bit_png  # noqa: E402
from tests.xray.test_imaging import encode, encode_with, with_scans, xray_like  # noqa: E402

MODULE = "src/mlapi/xray/imaging.py"
BEFORE = "0e63ab0"  # the last commit before decoding had a budget

CHILD = r"""
import importlib.util, json, re, sys, time
spec = importlib.util.spec_from_file_location("imaging", sys.argv[1])
imaging = importlib.util.module_from_spec(spec)
spec.loader.exec_module(imaging)
def peak():
    with open("/proc/self/status") as status:
        return int(re.search(r"VmHWM:\s*(\d+) kB", status.read()).group(1)) * 1024
data, repeat = open(sys.argv[2], "rb").read(), int(sys.argv[3])
imaging.preprocess(open(sys.argv[4], "rb").read())  # Pillow loads its plugins
before, times, outcome = peak(), [], "read"
try:
    for _ in range(repeat):
        start = time.perf_counter()
        imaging.preprocess(data)
        times.append(time.perf_counter() - start)
except ValueError as error:
    times.append(time.perf_counter() - start)
    outcome = str(error)
print(json.dumps({"outcome": outcome, "seconds": sorted(times)[len(times) // 2], "growth": peak() - before}))
"""


def files() -> list[tuple[str, bytes, int]]:
    """(name, data, how many times to run it, for the median): the hostile files, then ordinary ones."""
    plain = encode(Image.new("L", (64, 64), 90), "JPEG")
    return [
        ("JPEG scan bomb 4096x4096, 400,000 scans", scan_bomb((4096, 4096), 400_000), 1),
        ("JPEG scan bomb 4096x4096, 100,000 scans", scan_bomb((4096, 4096), 100_000), 1),
        ("JPEG scan bomb 2000x2000, 100,000 scans", scan_bomb((2000, 2000), 100_000), 1),
        ("JPEG of 1.5 million empty APP1 segments", plain[:2] + b"\xff\xe1\x00\x02" * 1_500_000 + plain[2:], 1),
        ("JPEG 4032x3024 progressive, 32 scans", with_scans(encode_with(xray_like((4032, 3024), "RGB"),
                                                                        progressive=True), 22), 3),
        ("16-bit PNG 4096x4096", sixteen_bit_png((4096, 4096)), 1),
        ("16-bit PNG 4032x3024 (largest accepted)", sixteen_bit_png((4032, 3024)), 1),
        ("16-bit PNG 3000x3000 X-ray", encode(xray_like((3000, 3000), "I;16")), 1),
        ("JPEG 4000x3000 baseline", encode_with(xray_like((4000, 3000), "RGB")), 5),
        ("JPEG 4000x3000 progressive", encode_with(xray_like((4000, 3000), "RGB"), progressive=True), 5),
        ("PNG 28x28 (the page's example)", base64.b64decode(EXAMPLE_IMAGE), 2000),
        ("JPEG 28x28", encode_with(xray_like((28, 28))), 2000),
    ]


def run(module: Path, data_file: Path, repeat: int, warm_up: Path, timeout: float) -> dict:
    command = [sys.executable, "-c", CHILD, str(module), str(data_file), str(repeat), str(warm_up)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return {"outcome": f"stopped after {timeout:.0f} s", "seconds": None, "growth": None}
    return json.loads(done.stdout)


def cell(result: dict) -> str:
    """Outcome, seconds per call (the median) and peak RSS growth, in 52 characters."""
    if result["seconds"] is None:
        return f"{result['outcome']:<52}"
    outcome = "read" if result["outcome"] == "read" else "refused: " + result["outcome"][4:28]
    seconds = result["seconds"]
    time = f"{seconds:.3f} s" if seconds >= 0.01 else f"{seconds * 1000:.2f} ms"
    return f"{outcome:<34}{time:>10}{result['growth'] / 2**20:>6.0f} MB"


def main(revision: str = BEFORE, timeout: float = 300) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        old = folder / "old_imaging.py"
        old.write_text(subprocess.run(["git", "show", f"{revision}:{MODULE}"], cwd=ROOT, capture_output=True,
                                      text=True, check=True).stdout)
        warm_up = folder / "warm_up.png"
        warm_up.write_bytes(base64.b64decode(EXAMPLE_IMAGE))
        print(f"{'file':<42}{'bytes':>10}   {'before (' + revision + ')':<52}   after (working tree)")
        for name, data, repeat in files():
            data_file = folder / "upload"
            data_file.write_bytes(data)
            before, after = (run(module, data_file, repeat, warm_up, timeout) for module in (old, ROOT / MODULE))
            print(f"{name:<42}{len(data):>10,}   {cell(before)}   {cell(after)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else BEFORE, float(sys.argv[2]) if len(sys.argv) > 2 else 300)
