"""The runner every entry point goes through: a `UserError` becomes one line on stderr and its exit code."""

import sys
from collections.abc import Callable

from har_finetune.core.errors import UserError


def run_cli(main: Callable[[], int]) -> None:
    """Run an entry point and turn a `UserError` into one line on stderr and its exit code."""
    try:
        code = main()
    except UserError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)  # one line, whatever the message holds
        code = error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
