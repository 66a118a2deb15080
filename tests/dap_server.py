"""Test servers for remote forcing: pydap's OPeNDAP server, and sockets that misbehave or count connections.

pydap 3.5.9's NetCDF handler reshapes every slice of a variable to the variable's full shape, so any
subset request ends in a 500 after the headers were sent (netCDF4's DAP client then reads garbage).
The tests need subsets, so that one method is replaced; everything else is pydap's own server
(`pydap --data DIR --port N` serves the same app with gunicorn; `python -m tests.dap_server --data
DIR --port N` does that with the fix).
"""

from __future__ import annotations

import socket
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import numpy as np
from pydap.handlers import netcdf_handler


def _getitem(self, key):
    with netcdf_handler.netcdf_file(self.filepath, "r") as source:
        source.set_auto_scale(False)
        data = np.asarray(source[self.path][key]).astype(self.dtype)
    full = int(np.prod(self._reshape)) if self._reshape else 1
    return data.reshape(self._reshape) if data.size == full else data


def fix_pydap() -> None:
    netcdf_handler.LazyVariable.__getitem__ = _getitem


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


class DapServer:
    """pydap's WSGI app on 127.0.0.1 in a thread; `requests` lists every path asked for."""

    def __init__(self, data_dir: str, redirect_to: str | None = None) -> None:
        fix_pydap()
        from pydap.wsgi.app import DapServer as PydapApp

        self.app = PydapApp(str(data_dir))
        self.requests: list[str] = []
        self.redirect_to = redirect_to
        self.server = make_server("127.0.0.1", 0, self._wsgi, _ThreadingServer, _QuietHandler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _wsgi(self, environ, start_response):
        self.requests.append(environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ["QUERY_STRING"] else ""))
        if self.redirect_to:
            start_response("302 Found", [("Location", self.redirect_to + environ["PATH_INFO"])])
            return [b""]
        return self.app(environ, start_response)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RawServer:
    """A listening socket that counts connections and then never answers ("silent") or closes ("close")."""

    def __init__(self, mode: str = "silent") -> None:
        self.mode = mode
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.mode == "close":
                conn.close()
            else:
                self.held.append(conn)  # keep it open, say nothing

    def url(self, name: str = "model.nc") -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def close(self) -> None:
        self._stop = True
        self.sock.close()
        for conn in self.held:
            conn.close()


def main() -> None:
    fix_pydap()
    from pydap.wsgi.app import main as pydap_main

    sys.argv = ["pydap", *sys.argv[1:]]
    pydap_main()


if __name__ == "__main__":
    main()
