"""Fake upstreams that the real SDKs talk to over HTTP on 127.0.0.1 (no patching of client code)."""
