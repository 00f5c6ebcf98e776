"""mlapi's gunicorn worker, against real gunicorn: slow clients, gunicorn's own errors, chunked bodies."""
import http.client
import io
import json
import shutil
import socket
import threading
import time

import pytest

from tests.servers import gunicorn

READ_TIMEOUT = 1.5  # s: short, to keep the test fast (the default is 10)
SLOW_CLIENTS = 8  # every thread of the 2 workers (gunicorn.conf.py: 4 threads each)
HEALTH_TIMEOUT = 5  # s: under the sync workers, health did not answer for 31 s
CAP = 256 * 1024  # recommend's body cap


@pytest.fixture(scope="module")
def port(trained_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn_worker")
    artifacts = shutil.copytree(trained_dir, folder / "artifacts")
    settings = {"ARTIFACTS_DIR": artifacts, "DATABASE_URL": f"sqlite:///{folder / 'mlapi.db'}",
                "RATELIMIT_STORAGE": f"mlapi+lmdb:///{folder / 'ratelimits'}?map_mb=1", "LOG_LEVEL": "WARNING",
                "RATELIMIT_ANONYMOUS": "1000000/minute", "RATELIMIT_ANONYMOUS_ITEMS": "1000000/minute",
                "READ_TIMEOUT": READ_TIMEOUT}
    with gunicorn(settings, workers=2) as port:
        yield port


def slow_client(port: int, trickle_headers: bool, outcome: dict) -> None:
    """POST a sentiment request one byte a second (its headers too, or only its body); note how it ended."""
    head = (b"POST /api/v1/sentiment HTTP/1.1\r\nHost: mlapi\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    started = time.monotonic()
    answer = b""
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.settimeout(1)  # each recv waits a second: the pace of the bytes sent
        pending = list(head) if trickle_headers else []
        if not trickle_headers:
            client.sendall(head)
        try:
            while time.monotonic() - started < 20:
                client.sendall(bytes([pending.pop(0)]) if pending else b" ")
                try:
                    data = client.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                answer += data
        except OSError:  # reset by the server
            pass
    outcome.update(seconds=time.monotonic() - started, answer=answer)


def health(port: int) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HEALTH_TIMEOUT)
    try:
        connection.request("GET", "/api/v1/health")
        return connection.getresponse().status
    finally:
        connection.close()


def test_slow_clients_hold_no_worker_and_are_dropped_at_the_read_timeout(port):
    outcomes = [{} for _ in range(SLOW_CLIENTS)]
    clients = [threading.Thread(target=slow_client, args=(port, number % 2 == 1, outcome))
               for number, outcome in enumerate(outcomes)]
    for client in clients:
        client.start()
    time.sleep(0.3)
    started = time.monotonic()
    while time.monotonic() - started < 3 * READ_TIMEOUT:
        assert health(port) == 200  # answers, within HEALTH_TIMEOUT
        time.sleep(0.2)
    for client in clients:
        client.join()

    for number, outcome in enumerate(outcomes):
        assert READ_TIMEOUT * 0.9 < outcome["seconds"] < 15, "the server closed the slow connection"
        if number % 2 == 1:
            assert outcome["answer"] == b"", "a request whose headers never arrived gets no answer"
    answers = [outcome["answer"] for outcome in outcomes if outcome["answer"]]
    assert answers, "a body that stops arriving is answered 408"
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"Content-Type: application/problem+json" in head
        assert json.loads(body)["status"] == 408


def test_a_long_request_line_is_414_problem_json(port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/v1/health?q=" + "a" * 20_000)
    response = connection.getresponse()
    problem = json.loads(response.read())
    connection.close()
    assert response.status == 414
    assert response.getheader("Content-Type") == "application/problem+json"
    assert problem["status"] == 414 and problem["type"] == "about:blank"
    assert problem["title"] and problem["detail"]


def chunked_post(port: int, path: str, body: bytes) -> tuple[int, dict, bytes]:
    """POST ``body`` in 64 KiB chunks (Transfer-Encoding: chunked): status, headers, body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    chunks = (body[start:start + 65536] for start in range(0, len(body), 65536))
    connection.request("POST", path, chunks, {"Content-Type": "application/json"}, encode_chunked=True)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, dict(response.headers), data


def test_a_chunked_body_over_the_cap_is_413_problem_json(port):
    status, headers, data = chunked_post(port, "/api/v1/recommend", json.dumps({"x": "a" * CAP}).encode())
    assert status == 413
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(data)["status"] == 413


def test_a_chunked_body_under_the_cap_is_read_whole(port):
    status, _, data = chunked_post(port, "/api/v1/sentiment", json.dumps({"text": "A kind crew"}).encode())
    assert status == 200 and "probabilities" in json.loads(data)


def test_a_chunked_body_that_fills_the_cap_is_read_and_one_byte_more_is_413(make_app):
    """In process: werkzeug stops reading at the cap, so the body that fills it is told from a longer one."""
    client = make_app(MAX_BODY_BYTES=1000).test_client()
    for size, status in ((1000, 200), (1001, 413)):
        body = b'{"text": "' + b"a" * (size - 12) + b'"}'
        response = client.post("/api/v1/sentiment", input_stream=io.BytesIO(body),
                               headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})
        assert response.status_code == status
