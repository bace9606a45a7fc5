"""The agent's status port (15021): ``GET /healthz/ready`` is 200 when the proxy is ready, else 503 with the reason."""

import http.server
import threading

READY_PATH = '/healthz/ready'


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass    # probed every few seconds: an access log would drown the reasons worth reading

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.split('?', 1)[0] != READY_PATH:
            self._answer(404, 'not found\n')
            return
        ready, reason = self.server.readiness()
        self._answer(200 if ready else 503, (reason or 'ready') + '\n')

    def _answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header('Content-Type', 'text/plain; charset=utf-8')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class StatusServer:
    """Serves ``readiness()`` -> (ready, reason) on ``address:port``."""

    def __init__(self, readiness, address='0.0.0.0', port=15021):
        self.httpd = http.server.ThreadingHTTPServer((address, port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.readiness = readiness
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.2,), name='status', daemon=True)

    @property
    def port(self):
        return self.httpd.server_address[1]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
