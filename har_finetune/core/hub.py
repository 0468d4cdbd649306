"""Reaching the Hugging Face Hub, or knowing we cannot: one-line errors that say what to do on a compute node.

Without a network and without `HF_HUB_OFFLINE=1`, huggingface_hub retries each request with back-off for about
20 s and logs every try, then transformers and datasets fail with long messages. We probe the endpoint once
(a few seconds at most) before the first Hub lookup and stop with one line instead. With `HF_HUB_OFFLINE=1`
nothing is probed: only the local cache is used (filled on a login node by `python -m har_finetune.prefetch`).
"""

from huggingface_hub import constants, get_session

from har_finetune.core.errors import UserError

PROBE_TIMEOUT_S = 5


def prefetch_hint(kind: str, name: str) -> str:
    """What to do when `kind` ("model" or "dataset") `name` is not in the local cache (offline mode not repeated
    when it is already on)."""
    offline = "" if is_offline() else " and run compute jobs with HF_HUB_OFFLINE=1"
    return (
        f"fetch it on a login node with internet (`python -m har_finetune.prefetch --{kind} {name}`, same "
        f"HF_HOME){offline}, or pass a local folder"
    )


def is_offline() -> bool:
    return constants.is_offline_mode()


def hub_unreachable_reason() -> str | None:
    """Why the Hub endpoint cannot be reached (one probe, a few seconds at most); None when it answers."""
    try:
        get_session().head(constants.ENDPOINT, timeout=PROBE_TIMEOUT_S)  # any HTTP answer means "reachable"
    except Exception as error:  # the HTTP client's transport errors: DNS, refused, timeout, proxy
        return f"{constants.ENDPOINT}: {type(error).__name__}"
    return None


def check_hub_reachable(kind: str, name: str) -> None:
    """Raise a one-line `UserError` when the Hub cannot be reached to look up `name` (not in offline mode)."""
    if is_offline():
        return
    reason = hub_unreachable_reason()
    if reason:
        raise UserError(
            f"cannot reach the Hugging Face Hub ({reason}) to get {kind} '{name}'; without internet set "
            "HF_HUB_OFFLINE=1 to use the local cache; " + prefetch_hint(kind, name)
        )
