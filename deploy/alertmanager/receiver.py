"""The demo stack's webhook receiver: prints each notification Alertmanager posts (its version 4 JSON), one line
per alert, so `docker compose logs alert-receiver` shows what would have paged someone. Stands in for your chat or
paging integration; standard library only."""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        for alert in body.get("alerts", []):
            labels = ",".join(f"{k}={v}" for k, v in sorted(alert.get("labels", {}).items()))
            print(f"{alert.get('status')} {labels} {alert.get('annotations', {}).get('summary', '')}", flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    HTTPServer(("0.0.0.0", int(sys.argv[1]) if len(sys.argv) > 1 else 9095), Receiver).serve_forever()
