# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One unary gRPC call over HTTP/2 with nothing but the standard library.

VMs get no grpcio, so this speaks just enough HTTP/2 (prior knowledge, as gRPC does) to send one unary request and
read the reply: the connection preface, SETTINGS (opening the flow-control window wide) and their acknowledgement,
a connection WINDOW_UPDATE, one HEADERS and one DATA frame out, DATA frames in until the stream ends. The socket may
be plain TCP or TLS (with ALPN h2), the caller decides. Request headers are sent as HPACK literals (valid for any
peer). Response headers are not decoded (that would need HPACK's
Huffman tables): a call that fails has no reply message, and is reported as such without its grpc-status.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import Poller
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.protobuf_wire import encode_varint

_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY, _WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8
_END_STREAM, _ACK, _END_HEADERS, _PADDED = 0x1, 0x1, 0x4, 0x8
_STREAM = 1
# Stop reading rather than buffer whatever a wrong peer sends.
DEFAULT_MAX_REPLY = 4 * 1024 * 1024
# HTTP/2 flow control (RFC 7540, 6.9): a peer sends at most 65,535 bytes of DATA until the receiver widens the
# window. The client never reads more than max_reply, so it opens the largest window at once, for the stream
# (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection (WINDOW_UPDATE on stream 0), and never has to update it.
_SETTINGS_INITIAL_WINDOW_SIZE = 0x4
_DEFAULT_WINDOW = 65535
_MAX_WINDOW = 2 ** 31 - 1


class GrpcWireError(Exception):
    """The call got no reply message, or the peer broke off the HTTP/2 exchange."""


def _hpack_int(value):
    """An HPACK integer with a 7-bit prefix and the Huffman bit clear (RFC 7541, 5.1)."""
    if value < 0x7f:
        return bytes([value])
    return bytes([0x7f]) + encode_varint(value - 0x7f)


def _hpack_literal(name, value):
    """'Literal Header Field without Indexing -- New Name' (RFC 7541, 6.2.2)."""
    name, value = name.encode('ascii'), value.encode('utf-8')
    return b'\x00' + _hpack_int(len(name)) + name + _hpack_int(len(value)) + value


def _frame(frame_type, flags, stream, payload=b''):
    return struct.pack('>I', len(payload))[1:] + struct.pack('>BBI', frame_type, flags, stream) + payload


def authority_of(host, port):
    """The :authority of a call to host:port (IPv6 addresses in brackets)."""
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def encode_call(authority, path, message, scheme='http'):
    """The bytes a client sends for one unary call of ``path`` (``/package.Service/Method``) with the serialized
    request ``message`` on a new connection."""
    headers = b''.join(_hpack_literal(name, value) for name, value in (
        (':method', 'POST'), (':scheme', scheme), (':path', path), (':authority', authority),
        ('content-type', 'application/grpc'), ('te', 'trailers')))
    grpc_message = b'\x00' + struct.pack('>I', len(message)) + message  # not compressed, length, message
    settings = struct.pack('>HI', _SETTINGS_INITIAL_WINDOW_SIZE, _MAX_WINDOW)
    connection_window = struct.pack('>I', _MAX_WINDOW - _DEFAULT_WINDOW)
    return (_PREFACE + _frame(_SETTINGS, 0, 0, settings) + _frame(_WINDOW_UPDATE, 0, 0, connection_window)
            + _frame(_HEADERS, _END_HEADERS, _STREAM, headers) + _frame(_DATA, _END_STREAM, _STREAM, grpc_message))


def decode_message(data):
    """The one message in the gRPC-framed bytes of a unary reply's DATA frames."""
    if len(data) < 5:
        raise GrpcWireError('no reply message: the call failed (unknown method or service, or refused by the server)')
    if data[0] != 0:
        raise GrpcWireError('the reply is compressed, which this client does not support')
    (length,) = struct.unpack('>I', data[1:5])
    if len(data) < 5 + length:
        raise GrpcWireError('the reply message is cut short (%d of %d bytes)' % (len(data) - 5, length))
    return data[5:5 + length]


def _read_exact(sock, count):
    chunks = []
    while count:
        chunk = sock.recv(count)
        if not chunk:
            raise GrpcWireError('the peer closed the connection before the reply ended')
        chunks.append(chunk)
        count -= len(chunk)
    return b''.join(chunks)


def read_reply(sock, max_reply=DEFAULT_MAX_REPLY):
    """Read frames until the call's stream ends; returns the bytes of its DATA frames."""
    data = b''
    while True:
        length, frame_type, flags, stream = struct.unpack('>IBBI', b'\x00' + _read_exact(sock, 9))
        payload = _read_exact(sock, length)
        stream &= 0x7fffffff
        if frame_type == _SETTINGS and not flags & _ACK:
            sock.sendall(_frame(_SETTINGS, _ACK, 0))
        elif frame_type == _PING and not flags & _ACK:
            sock.sendall(_frame(_PING, _ACK, 0, payload))
        elif frame_type == _GOAWAY:
            raise GrpcWireError('the peer refused the call (HTTP/2 GOAWAY, error code %d)'
                                % struct.unpack('>I', payload[4:8])[0])
        elif stream == _STREAM and frame_type == _RST_STREAM:
            raise GrpcWireError('the peer reset the call (HTTP/2 error code %d)' % struct.unpack('>I', payload)[0])
        elif stream == _STREAM and frame_type == _DATA:
            if flags & _PADDED:
                payload = payload[1:len(payload) - payload[0]]
            data += payload
            if len(data) > max_reply:
                raise GrpcWireError('the reply is larger than %d bytes' % max_reply)
        if stream == _STREAM and frame_type in (_DATA, _HEADERS) and flags & _END_STREAM:
            return data


def unary_call(sock, authority, path, message=b'', scheme='http', max_reply=DEFAULT_MAX_REPLY):
    """Send one unary call on a fresh connection ``sock``; returns the serialized reply message."""
    sock.sendall(encode_call(authority, path, message, scheme))
    return decode_message(read_reply(sock, max_reply))


def poll(attempt, timeout, interval=0.25, max_interval=4.0):
    """Call ``attempt(call_timeout)`` until it returns ``(value, None)``; ``(None, reason)`` means not yet.

    The shared Poller waits between attempts, doubling from ``interval`` up to ``max_interval``, the whole wait
    bounded by ``timeout`` seconds; each attempt gets what is left of it (0.1 to 5 s) as its own timeout.
    Returns (value, attempts, elapsed seconds); raises polling.PollTimeout (``last``: the last reason, ``attempts``).
    """
    deadline = time.monotonic() + timeout

    def read():
        return attempt(max(0.1, min(5.0, deadline - time.monotonic())))

    (value, _reason), attempts, elapsed = Poller(first=interval, factor=2, cap=max_interval).until(
        read, lambda outcome: outcome[1] is None, timeout, lambda outcome: outcome[1])
    return value, attempts, elapsed
