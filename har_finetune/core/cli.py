"""The runner every entry point goes through: a `UserError` becomes one line on stderr and its exit code."""

import sys
from collections.abc import Callable

from har_finetune.core.errors import UserError


def run_cli(main: Callable[[], int], after_interrupt: Callable[[], str] | None = None) -> None:
    """Run an entry point and turn a `UserError` into one line on stderr and its exit code; Ctrl-C ends with
    "interrupted" and what the same command will do next (e.g. resume): from `after_interrupt`, or the text of the
    KeyboardInterrupt when the command raised it again with that text (campaigns/local.py)."""
    try:
        code = main()
    except UserError as error:
        print("error: " + " ".join(str(error).split()), file=sys.stderr)  # one line, whatever the message holds
        code = error.exit_code
    except KeyboardInterrupt as interrupt:
        next_time = after_interrupt() if after_interrupt else str(interrupt)
        print("interrupted" + (f"; {next_time}" if next_time else ""), file=sys.stderr)
        code = 130
    sys.exit(code)
