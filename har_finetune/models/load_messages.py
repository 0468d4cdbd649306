"""What transformers prints while loading, made to fit our console: one line instead of a load report.

- Fine-tuning loads a dual-tower checkpoint into an image classifier: transformers 5 then logs a ~30-line LOAD
  REPORT (text tower and SigLIP's pooling head UNEXPECTED, the new head MISSING). All of it is expected; we say so
  in one line, and log the report only when something else is missing or left over.
- SigLIP configs carry text special-token ids beyond the text vocabulary (bos 49406 with 32,000 tokens); every
  load warns `bos_token_id must be None or an integer within the vocabulary`, which means nothing for a vision
  classifier. transformers' own default `SiglipTextConfig()` fails that check too, and loading any SigLIP config
  builds one (to log the config's differences from the defaults): `registry.load_config` loads inside
  `quiet_loading` as well.
- Trainer sorts checkpoints by modification time before deleting old ones and, when they were saved within a
  second of each other (a short run's are), warns "mtime may not be reliable on this filesystem" and sorts them by
  step, which is what we want: `quiet_training` drops that line for the whole run.

docs/bad_input.md lists what a standard run may still print on stderr (tests/test_first_hour.py holds it to that).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from transformers.utils import logging as hf_logging

logger = logging.getLogger(__name__)
# logger -> a fragment of the messages dropped from it (filters, not levels: transformers runs extra checks, with
# warnings of their own, when its loading logger is set to WARNING or above)
NOISE = {
    "transformers.modeling_utils": "LOAD REPORT",
    "transformers.configuration_utils": "must be `None` or an integer within the vocabulary",
}
TRAINING_NOISE = {"transformers.trainer_utils": "mtime may not be reliable on this filesystem"}
EXPECTED_LEFT_OUT = ("text_model.", "text_projection", "logit_scale", "logit_bias", "visual_projection", ".head.")
NEW_HEAD = ("classifier.",)


class _DropMessages(logging.Filter):
    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Drop transformers' load report and its special-token-id warnings for the duration."""
    installed = [(hf_logging.get_logger(name), _DropMessages(fragment)) for name, fragment in NOISE.items()]
    for each, drop in installed:
        each.addFilter(drop)
    try:
        yield
    finally:
        for each, drop in installed:
            each.removeFilter(drop)


def quiet_training() -> None:
    """Drop Trainer's warnings that say nothing about the run (TRAINING_NOISE) from now on (the training process)."""
    for name, fragment in TRAINING_NOISE.items():
        each = hf_logging.get_logger(name)
        if not any(isinstance(f, _DropMessages) and f.fragment == fragment for f in each.filters):  # once per process
            each.addFilter(_DropMessages(fragment))


def log_load_info(info: dict, name_or_path: str, display_name: str) -> None:
    """One line for the expected differences (`output_loading_info` of from_pretrained); the rest as a warning."""
    left_out = sorted(info["unexpected_keys"])
    new = sorted(info["missing_keys"]) + [key for key, *_ in info["mismatched_keys"]]
    surprises = [k for k in left_out if not any(p in k for p in EXPECTED_LEFT_OUT)]
    surprises += [k for k in new if not k.startswith(NEW_HEAD)]
    logger.info(
        "loaded the %s vision tower of %s: %d tensors left out (text tower, projections, pooling head: expected), "
        "%d new (the classifier head, random: expected)",
        display_name,
        name_or_path,
        len(left_out),
        len(new),
    )
    if surprises:
        logger.warning("unexpected differences between %s and the classifier: %s", name_or_path, ", ".join(surprises))
