"""What the tests share: factories, the real-service helpers (workers, private Redis and
PostgreSQL, free ports, a live gunicorn), Kannel, the fake providers, API clients for our
API and the peers', the URL walk and the error-shape assertions. One copy of each."""
