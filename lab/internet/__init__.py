"""The lab's internet: a CONNECT proxy that sends a short list of hosts to local stand-ins and refuses the rest.

``registry.HostRegistry`` maps a hostname to the loopback address of the stand-in that answers for it,
``proxy.ConnectProxy`` tunnels CONNECT requests for those hosts, ``tls.TLSServer`` is the HTTPS server a stand-in
runs (certificate from the lab CA), and ``client`` writes the settings that point requests, google-auth and gcloud
at the proxy. See docs/dev/lab.md.
"""
