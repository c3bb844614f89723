"""Drop-in compatibility with two hosted verification APIs (docs/compat.md).

Each peer's module parses its clients' requests and renders its answers; every rule
(codes, limits, templates, dispatch) runs in ``otp.services``, with the per-request
settings the peer allows passed as ``CodeOverrides``.
"""
