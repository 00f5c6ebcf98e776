"""Where one request's time goes: pyinstrument over mlapi's whole request path, everything on.

Runs requests through the Flask test client (every hook: trace, body cap, auth with a
client key, limits on the LMDB storage, the request log) against the trained artifacts,
in a temporary database and limit store. Prints pyinstrument's call tree.

    .venv/bin/python bench/profile.py [use case] [requests]     # default: sentiment 2000
"""
from __future__ import annotations

import json
import logging
import os
import sys
import tempfile

from pyinstrument import Profiler

from mlapi import create_app
from mlapi.access.keys import create_key

HIGH = "100000000/minute"


def main(name: str = "sentiment", requests: int = 2000) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app({
            "DATABASE_URL": f"sqlite:///{scratch}/profile.db",
            "RATELIMIT_STORAGE": f"mlapi+lmdb:///{scratch}/ratelimits",
            "RATELIMIT_CLIENT": HIGH, "LOG_LEVEL": "INFO", "SYNC_SECONDS": 0, "USAGE_FLUSH_SECONDS": 0,
        })
        for handler in logging.getLogger("mlapi").handlers:  # the request log is written, to nowhere
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
        with app.app_context():
            headers = {"Authorization": f"Bearer {create_key('profile', 'client')}"}
        client = app.test_client()
        path = f"/api/v1/{name}"
        example = client.get(f"/api/v1/models/{name}").get_json()["example"]
        body = json.dumps(example)
        for _ in range(50):  # warm-up
            client.post(path, data=body, content_type="application/json", headers=headers)
        profiler = Profiler(interval=0.0002)
        with profiler:
            for _ in range(requests):
                response = client.post(path, data=body, content_type="application/json", headers=headers)
                assert response.status_code == 200, response.get_data(as_text=True)
        print(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    main(*(arg if index == 0 else int(arg) for index, arg in enumerate(sys.argv[1:])))
