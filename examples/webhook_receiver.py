"""Receive mlapi's alerts: python examples/webhook_receiver.py SECRET [PORT]; then
MLAPI_ALERT_WEBHOOKS=http://127.0.0.1:9000/ MLAPI_ALERT_WEBHOOK_SECRET=SECRET make run."""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = sys.argv[1].encode()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        genuine = hmac.compare_digest(expected, self.headers.get("X-Mlapi-Signature", ""))
        self.send_response(204 if genuine else 401)
        self.end_headers()
        alert = json.loads(body) if genuine else {}
        value = alert.get("resolved_value") if alert.get("event") == "resolved" else alert.get("value")
        print(f"{alert['event']}: {alert['rule']} on {alert['use_case']}: {alert['condition']} (now {value})"
              if genuine else "refused: the signature does not match (another secret?)", flush=True)


HTTPServer(("127.0.0.1", int(sys.argv[2]) if len(sys.argv) > 2 else 9000), Receiver).serve_forever()
