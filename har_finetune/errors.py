"""User-facing errors: one clear line and exit code 2, never a bare traceback."""

import sys
from collections.abc import Callable

USAGE_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A problem the user can fix (bad path, bad flag, bad data); the message says how."""


def run_cli(main: Callable[[], int]) -> None:
    """Run an entry point and turn a `UserError` into one line on stderr and exit code 2."""
    try:
        code = main()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        code = USAGE_ERROR_EXIT_CODE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
