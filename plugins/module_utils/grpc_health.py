# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A grpc.health.v1.Health/Check call with nothing but the standard library.

VMs get no grpcio, so this speaks just enough HTTP/2 (cleartext, prior knowledge, as gRPC without TLS does) to send
one unary request and read the reply: the connection preface, SETTINGS and their acknowledgement, one HEADERS and
one DATA frame out, DATA frames in until the stream ends. Request headers are sent as HPACK literals (valid for any
peer). Response headers are not decoded (that would need HPACK's Huffman tables): a call that fails has no reply
message, and is reported as such without its grpc-status.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import struct
import time

HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check'
# HealthCheckResponse.ServingStatus
STATUS_NAMES = {0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN'}

_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
_DATA, _HEADERS, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7
_END_STREAM, _ACK, _END_HEADERS, _PADDED = 0x1, 0x1, 0x4, 0x8
_STREAM = 1
# Bigger replies are not health replies; stop reading rather than buffer whatever a wrong peer sends.
_MAX_REPLY = 65536


class HealthCheckError(Exception):
    """The health check got no answer, or an answer that is not a grpc.health.v1 reply."""


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7f
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _hpack_int(value):
    """An HPACK integer with a 7-bit prefix and the Huffman bit clear (RFC 7541, 5.1)."""
    if value < 0x7f:
        return bytes([value])
    return bytes([0x7f]) + _varint(value - 0x7f)


def _hpack_literal(name, value):
    """'Literal Header Field without Indexing -- New Name' (RFC 7541, 6.2.2)."""
    name, value = name.encode('ascii'), value.encode('utf-8')
    return b'\x00' + _hpack_int(len(name)) + name + _hpack_int(len(value)) + value


def _frame(frame_type, flags, stream, payload=b''):
    return struct.pack('>I', len(payload))[1:] + struct.pack('>BBI', frame_type, flags, stream) + payload


def encode_request(authority, service):
    """The bytes a client sends for one Health/Check call on a new connection."""
    message = b''
    if service:
        encoded = service.encode('utf-8')
        message = b'\x0a' + _varint(len(encoded)) + encoded  # field 1 (service), length-delimited
    headers = b''.join(_hpack_literal(name, value) for name, value in (
        (':method', 'POST'), (':scheme', 'http'), (':path', HEALTH_CHECK_PATH), (':authority', authority),
        ('content-type', 'application/grpc'), ('te', 'trailers')))
    grpc_message = b'\x00' + struct.pack('>I', len(message)) + message  # not compressed, length, message
    return (_PREFACE + _frame(_SETTINGS, 0, 0) + _frame(_HEADERS, _END_HEADERS, _STREAM, headers)
            + _frame(_DATA, _END_STREAM, _STREAM, grpc_message))


def decode_status(data):
    """The ServingStatus name in a gRPC-framed HealthCheckResponse (the bytes of the reply's DATA frames)."""
    if len(data) < 5:
        raise HealthCheckError('no health reply: the call failed (unknown service, or not a gRPC health server)')
    if data[0] != 0:
        raise HealthCheckError('the health reply is compressed, which this check does not support')
    (length,) = struct.unpack('>I', data[1:5])
    message = data[5:5 + length]
    status, position = 0, 0
    while position < len(message):
        key = message[position]
        position += 1
        value, shift = 0, 0
        while True:
            if position >= len(message):
                raise HealthCheckError('the health reply is not a HealthCheckResponse')
            byte = message[position]
            position += 1
            value |= (byte & 0x7f) << shift
            shift += 7
            if not byte & 0x80:
                break
        if key != 0x08:  # only field 1 as a varint exists in HealthCheckResponse
            raise HealthCheckError('the health reply is not a HealthCheckResponse')
        status = value
    return STATUS_NAMES.get(status, 'UNKNOWN')


def _read_exact(sock, count):
    chunks = []
    while count:
        chunk = sock.recv(count)
        if not chunk:
            raise HealthCheckError('the peer closed the connection before the health reply ended')
        chunks.append(chunk)
        count -= len(chunk)
    return b''.join(chunks)


def _read_reply(sock):
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
            raise HealthCheckError('the peer refused the call (HTTP/2 GOAWAY, error code %d)'
                                   % struct.unpack('>I', payload[4:8])[0])
        elif stream == _STREAM and frame_type == _RST_STREAM:
            raise HealthCheckError('the peer reset the call (HTTP/2 error code %d)' % struct.unpack('>I', payload)[0])
        elif stream == _STREAM and frame_type == _DATA:
            if flags & _PADDED:
                payload = payload[1:len(payload) - payload[0]]
            data += payload
            if len(data) > _MAX_REPLY:
                raise HealthCheckError('the reply is too large for a health reply')
        if stream == _STREAM and frame_type in (_DATA, _HEADERS) and flags & _END_STREAM:
            return data


def check_once(host, port, service='', timeout=5.0):
    """One Health/Check call; returns the ServingStatus name. Raises HealthCheckError or OSError."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        authority = '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)
        sock.sendall(encode_request(authority, service))
        return decode_status(_read_reply(sock))


def wait_until_serving(host, port, service='', timeout=60.0, interval=1.0):
    """Call Health/Check until it answers SERVING or ``timeout`` seconds pass.

    Returns (status, attempts, elapsed seconds). Raises HealthCheckError naming the address and the last answer.
    """
    started = time.monotonic()
    attempts, last = 0, 'no attempt'
    while True:
        attempts += 1
        remaining = timeout - (time.monotonic() - started)
        try:
            status = check_once(host, port, service, timeout=max(0.1, min(5.0, remaining)))
            if status == 'SERVING':
                return status, attempts, time.monotonic() - started
            last = 'status %s' % status
        except (HealthCheckError, OSError) as error:
            last = str(error) or error.__class__.__name__
        if time.monotonic() - started + interval > timeout:
            raise HealthCheckError('gRPC health of %s at %s:%d is not SERVING after %d s (%d attempts); last: %s'
                                   % ("service '%s'" % service if service else 'the server', host, port, timeout,
                                      attempts, last))
        time.sleep(interval)
