"""Adapters of the peer-registry capability: JWS signing/verification (joserfc) and the HTTP client."""
