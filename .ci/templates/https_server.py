"""A loopback HTTPS file server for .ci/ci-templates: serves ROOT on 127.0.0.1 (a free port)
with CERT/KEY, writes the port to PORT_FILE once listening, and appends one line per request,
"METHOD PATH STATUS", to LOG. Usage: https_server.py ROOT CERT KEY PORT_FILE LOG"""

import functools
import http.server
import os
import ssl
import sys

root, cert, key, port_file, log_path = sys.argv[1:]


class Handler(http.server.SimpleHTTPRequestHandler):
    def log_request(self, code="-", size="-"):
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"{self.command} {self.path} {getattr(code, 'value', code)}\n")

    def log_message(self, format, *args):  # quiet: log_request records every request
        pass


handler = functools.partial(Handler, directory=root)
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w", encoding="utf-8") as f:
    f.write(f"{server.server_address[1]}\n")
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
