"""The demo stack's webhook receiver: prints each notification Alertmanager posts (its version 4 JSON), one line
per alert, so `docker compose logs alert-receiver` shows what would have paged someone. Stands in for your chat or
paging integration; standard library only.

An alert's `dashboard_url` is a path under Grafana's root: Prometheus does not know where Grafana is, the receiver
does. Here that is `GRAFANA_URL`, the address people open Grafana at (deploy/README.md, "Dashboard links"); without
it the path is printed as it came.

Usage: receiver.py [PORT [HOST]] (9095 on every interface by default, as the compose network needs)."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

GRAFANA_URL = os.environ.get("GRAFANA_URL", "").rstrip("/")


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        for alert in body.get("alerts", []):
            labels = ",".join(f"{k}={v}" for k, v in sorted(alert.get("labels", {}).items()))
            annotations = alert.get("annotations", {})
            dashboard = GRAFANA_URL + annotations["dashboard_url"] if "dashboard_url" in annotations else ""
            print(f"{alert.get('status')} {labels} {annotations.get('summary', '')} {dashboard}".rstrip(), flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    port, host = int(sys.argv[1]) if len(sys.argv) > 1 else 9095, sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
    HTTPServer((host, port), Receiver).serve_forever()
