"""User-facing errors: one clear line and a non-zero exit code, never a bare traceback."""

USAGE_ERROR_EXIT_CODE = 2
RUN_FAILED_EXIT_CODE = 3


class UserError(Exception):
    """A problem the user can fix (bad path, bad flag, bad data); the message says how."""

    exit_code = USAGE_ERROR_EXIT_CODE


class RunFailed(UserError):
    """Training stopped on a fault (NaN loss, out of memory, disk full); the message names it and what to try.

    Its own exit code, so that a batch script can tell it from bad input (2) and from a preemption stop (124):
    resubmitting the same command would only fail again.
    """

    exit_code = RUN_FAILED_EXIT_CODE
