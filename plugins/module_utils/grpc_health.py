# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A grpc.health.v1.Health/Check call with nothing but the standard library (over grpc_wire's HTTP/2 client).

A server that answers with an error (an unknown service) sends no reply message, which is reported as such.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_wire import (
    GrpcWireError,
    authority_of,
    decode_message,
    encode_call,
    poll,
    read_reply,
)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.protobuf_wire import (
    VARINT,
    ProtobufWireError,
    encode_varint,
    iter_fields,
)

HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check'
# HealthCheckResponse.ServingStatus
STATUS_NAMES = {0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN'}
# Bigger replies are not health replies.
_MAX_REPLY = 65536


class HealthCheckError(Exception):
    """The health check got no answer, or an answer that is not a grpc.health.v1 reply."""


def encode_request(authority, service):
    """The bytes a client sends for one Health/Check call on a new connection."""
    message = b''
    if service:
        encoded = service.encode('utf-8')
        message = b'\x0a' + encode_varint(len(encoded)) + encoded  # field 1 (service), length-delimited
    return encode_call(authority, HEALTH_CHECK_PATH, message)


def decode_status(data):
    """The ServingStatus name in a gRPC-framed HealthCheckResponse (the bytes of the reply's DATA frames)."""
    try:
        message = decode_message(data)
    except GrpcWireError as error:
        raise HealthCheckError('no health reply: the call failed (unknown service, or not a gRPC health server)'
                               if len(data) < 5 else str(error))
    status = 0
    try:
        for number, wire_type, value in iter_fields(message):
            if (number, wire_type) != (1, VARINT):  # only field 1 as a varint exists in HealthCheckResponse
                raise HealthCheckError('the health reply is not a HealthCheckResponse')
            status = value
    except ProtobufWireError:
        raise HealthCheckError('the health reply is not a HealthCheckResponse')
    return STATUS_NAMES.get(status, 'UNKNOWN')


def check_once(host, port, service='', timeout=5.0):
    """One Health/Check call; returns the ServingStatus name. Raises HealthCheckError or OSError."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(encode_request(authority_of(host, port), service))
        try:
            data = read_reply(sock, _MAX_REPLY)
        except GrpcWireError as error:
            raise HealthCheckError(str(error))
        return decode_status(data)


def wait_until_serving(host, port, service='', timeout=60.0, interval=0.25):
    """Call Health/Check until it answers SERVING or ``timeout`` seconds pass, backing off between attempts.

    Returns (status, attempts, elapsed seconds). Raises HealthCheckError naming the address and the last answer.
    """
    def attempt(call_timeout):
        try:
            status = check_once(host, port, service, timeout=call_timeout)
        except (HealthCheckError, OSError) as error:
            return None, str(error) or error.__class__.__name__
        return (status, None) if status == 'SERVING' else (None, 'status %s' % status)

    try:
        return poll(attempt, timeout, interval)
    except PollTimeout as timed_out:
        raise HealthCheckError('gRPC health of %s at %s:%d is not SERVING after %d s (%d attempts); last: %s'
                               % ("service '%s'" % service if service else 'the server', host, port, timeout,
                                  timed_out.attempts, timed_out.last))
