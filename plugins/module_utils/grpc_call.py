# -*- coding: utf-8 -*-
# Copyright: meshbridge maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A unary gRPC call with an empty request, over plain TCP or mutual TLS, for checking a service from outside.

The mesh's certificates name workloads by a SPIFFE URI and carry no host name, so the server is checked the way Istio
checks a peer: its chain must verify against the mesh root and its URI SAN must be the expected identity.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import socket
import ssl
import time

from ansible_collections.meshbridge.istio_vm.plugins.module_utils.grpc_wire import (
    GrpcWireError, authority_of, poll, unary_call,
)
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.polling import PollTimeout
from ansible_collections.meshbridge.istio_vm.plugins.module_utils.protobuf_wire import ProtobufWireError, count_field

# Istio's client sidecars offer istio-h2 (mesh mTLS carrying HTTP/2), which a PERMISSIVE inbound listener matches to
# its mTLS filter chain; plain servers pick h2.
DEFAULT_ALPN = ('istio-h2', 'h2')
_HTTP2_ALPN = ('h2', 'istio-h2')
_METHOD = re.compile(r'^/?([A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*/[A-Za-z_][A-Za-z0-9_]*$')
# TLS alerts by which a server says it refused the client's certificate (OpenSSL's reason names).
_CLIENT_CERT_REFUSED = ('UNKNOWN_CA', 'BAD_CERTIFICATE', 'CERTIFICATE_REQUIRED', 'CERTIFICATE_UNKNOWN',
                        'UNSUPPORTED_CERTIFICATE', 'CERTIFICATE_EXPIRED', 'CERTIFICATE_REVOKED', 'ACCESS_DENIED')


class GrpcCallError(Exception):
    """The call did not return a reply message that passes the checks asked for. ``connected`` says whether the
    server accepted a TCP connection (on the last attempt): a refusal after that is the server's (for a cleartext
    call to a sidecar with STRICT mTLS, the expected answer), one before it says nothing about the server."""

    def __init__(self, message, connected=True):
        super(GrpcCallError, self).__init__(message)
        self.connected = connected


class ParameterError(ValueError):
    """An option is wrong; the message names it and the fix."""


def method_path(method):
    """The HTTP/2 :path of ``package.Service/Method`` (a leading slash is accepted)."""
    if not _METHOD.match(method or ''):
        raise ParameterError("method must be 'package.Service/Method' (for example "
                             "'hipstershop.ProductCatalogService/ListProducts'), got %r" % method)
    return method if method.startswith('/') else '/' + method


def tls_context(ca_path, client_cert_path=None, client_key_path=None, alpn=DEFAULT_ALPN):
    """A client context that verifies the server's chain against ``ca_path`` and presents the client certificate.

    Host names are not checked: mesh certificates have none (see ``call_once``'s ``server_identity``)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    try:
        context.load_verify_locations(cafile=ca_path)
    except (OSError, ssl.SSLError) as error:
        raise ParameterError('ca_path %s is not a readable PEM certificate file: %s' % (ca_path, error))
    if client_cert_path:
        try:
            context.load_cert_chain(client_cert_path, client_key_path)
        except (OSError, ssl.SSLError) as error:
            raise ParameterError('client_cert_path %s and client_key_path %s are not a readable PEM certificate chain '
                                 'and its matching unencrypted key: %s' % (client_cert_path, client_key_path, error))
    context.set_alpn_protocols(list(alpn))
    return context


def peer_identities(tls_socket):
    """The URI SANs (SPIFFE IDs in a mesh) of the server's certificate."""
    certificate = tls_socket.getpeercert() or {}
    return [value for kind, value in certificate.get('subjectAltName', ()) if kind == 'URI']


def _describe_tls_error(error):
    if isinstance(error, ssl.SSLCertVerificationError):
        return "the server's certificate does not verify against ca_path (%s)" % error.verify_message
    reason = getattr(error, 'reason', None) or ''
    if any(name in reason for name in _CLIENT_CERT_REFUSED):
        return 'the server refused the client certificate (TLS alert %s)' % reason
    return 'TLS failed: %s' % (reason or error)


def call_once(host, port, path, context=None, server_name=None, server_identity=None, count=None, timeout=5.0):
    """One call of ``path`` with an empty request; ``context`` None means cleartext.

    Returns a dict: reply_size, count (records of field ``count`` in the reply, when asked), peer_identities, alpn,
    tls_version. Raises GrpcCallError naming what failed (``connected`` False when no TCP connection was made), or
    OSError when the connection broke."""
    result = {'peer_identities': [], 'alpn': None, 'tls_version': None}
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise GrpcCallError(str(error) or error.__class__.__name__, connected=False)
    with raw:
        raw.settimeout(timeout)
        try:
            if context is None:
                reply = unary_call(raw, authority_of(host, port), path)
            else:
                with context.wrap_socket(raw, server_hostname=server_name) as tls_socket:
                    result.update(peer_identities=peer_identities(tls_socket), alpn=tls_socket.selected_alpn_protocol(),
                                  tls_version=tls_socket.version())
                    if server_identity and server_identity not in result['peer_identities']:
                        raise GrpcCallError('the server is not %s: its certificate names %s'
                                            % (server_identity, ', '.join(result['peer_identities']) or 'no URI'))
                    if result['alpn'] is not None and result['alpn'] not in _HTTP2_ALPN:
                        raise GrpcCallError('the server chose ALPN protocol %s, not HTTP/2' % result['alpn'])
                    reply = unary_call(tls_socket, authority_of(host, port), path, scheme='https')
        except ssl.SSLError as error:
            raise GrpcCallError(_describe_tls_error(error))
        except GrpcWireError as error:
            raise GrpcCallError(str(error))
    result['reply_size'] = len(reply)
    if count is not None:
        try:
            result['count'] = count_field(reply, count)
        except ProtobufWireError as error:
            raise GrpcCallError('the reply is not a protobuf message: %s' % error)
    return result


def call_until_ok(host, port, path, timeout=30.0, interval=0.25, min_count=None, retry=True, **call_options):
    """Call until a reply passes (and, with ``min_count``, counts at least that many records) or ``timeout``
    seconds pass, backing off between attempts (``retry`` False: one call, bounded by ``timeout``). Returns the last
    result with attempts and elapsed; raises GrpcCallError naming the call and the last failure."""
    connected = [False]

    def attempt(call_timeout):
        connected[0] = True
        try:
            result = call_once(host, port, path, timeout=call_timeout, **call_options)
        except GrpcCallError as error:
            connected[0] = error.connected
            return None, str(error)
        except OSError as error:
            return None, str(error) or error.__class__.__name__
        if min_count is not None and result['count'] < min_count:
            return None, 'the reply holds %d records of field %d, fewer than %d' % (
                result['count'], call_options['count'], min_count)
        return result, None

    if not retry:
        started = time.monotonic()
        result, reason = attempt(timeout)
        if result is None:
            raise GrpcCallError('gRPC call %s to %s failed: %s' % (path.lstrip('/'), authority_of(host, port), reason),
                                connected=connected[0])
        result.update(attempts=1, elapsed=time.monotonic() - started)
        return result
    try:
        result, attempts, elapsed = poll(attempt, timeout, interval)
    except PollTimeout as timed_out:
        raise GrpcCallError('gRPC call %s to %s failed for %d s (%d attempts); last: %s'
                            % (path.lstrip('/'), authority_of(host, port), timeout, timed_out.attempts, timed_out.last),
                            connected=connected[0])
    result.update(attempts=attempts, elapsed=elapsed)
    return result
