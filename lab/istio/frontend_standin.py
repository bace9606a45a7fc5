"""Stands in for Online Boutique's frontend container (image .../microservices-demo/frontend) in a pod the lab
runs for real (lab.istio.mesh_pods), as ``/src/server``, the image's entrypoint: the one thing a mesh check asks
of it, the health endpoint. The frontend listens on ``$PORT`` (its Deployment sets 8080) and answers
``GET /_healthz`` with ``ok`` (src/frontend/main.go in GoogleCloudPlatform/microservices-demo); the storefront's
pages, which call the other services, are not modelled: every other path is a 404 saying so.
Standard library only: it runs under the sandbox root's Python, not the lab's."""

import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the name http.server calls
        if self.path == '/_healthz':
            body, code = b'ok', 200
        else:
            body, code = b'the lab stands in for the frontend\'s /_healthz only\n', 404
        self.send_response(code)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        print('%s %s' % (self.address_string(), format % args), flush=True)


http.server.ThreadingHTTPServer(('', int(os.environ.get('PORT', '8080'))), Handler).serve_forever()
