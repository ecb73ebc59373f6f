"""The CLI's failures as one-line messages with exit codes a script can tell apart.

Every way a request can go wrong (the gateway or a service is down, the input is refused, the server
broke) ends in a `HearthError`; the command layer prints its message on one line and exits with its
code, so nothing below it prints tracebacks or calls `sys.exit`.
"""

EXIT_FAILED = 1
EXIT_UNAVAILABLE = 3
EXIT_REJECTED = 4
EXIT_INTERRUPTED = 130


class HearthError(Exception):
    """A failure the user should read as one line, with the exit code the CLI ends with."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def exit_code_for_http_status(status: int) -> int:
    """502/503/504 mean "down, loading or not answering"; 4xx and 507 (too big for the device) "refused"."""
    if status in (502, 503, 504):
        return EXIT_UNAVAILABLE
    if 400 <= status < 500 or status == 507:
        return EXIT_REJECTED
    return EXIT_FAILED
