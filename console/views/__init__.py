"""The console's pages, a module per concept. Thin: they read through the selectors of
``streams``, ``otp`` and ``gateways``, write through the services of ``streams``, and
look every object up inside the current account (another account's is a 404)."""
