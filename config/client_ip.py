"""The client's address: the connection's peer, or what the trusted proxies in front of the server saw.

Login lockout counts failures per username and address, and the audit log records the address. Behind a
reverse proxy every request comes from the proxy: unless the proxies are declared (TRUSTED_PROXY_COUNT), one
stranger's failures would lock a user out for everyone. X-Forwarded-For is read only from the right: each
trusted proxy appends the address it received the request from, and anything to the left of those entries
was written by the client and proves nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    peer = request.META.get("REMOTE_ADDR") or None
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies <= 0:
        return peer
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < proxies:
        return peer  # the request did not come through every proxy: its peer is the only address we know
    seen = hops[-proxies]
    try:
        return str(ipaddress.ip_address(seen))
    except ValueError:
        return peer
