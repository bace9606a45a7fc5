"""Stand-in for the Google APIs the collection calls: oauth2 token endpoint, container v1, compute v1.

Requests and responses are checked against the discovery documents shipped in google-api-python-client
(``discovery``, ``schema``); tokens come from lab service account keys (``auth``); long-running operations follow
a scaled latency profile (``operations``); new clusters and instances are handed to pluggable backends
(``backends``). ``server.GcpStandIn`` puts it together behind the lab internet.
"""
