"""The API's one error shape, as a client reads it."""


def error_code(response) -> str:
    return response.json()["error"]["code"]
