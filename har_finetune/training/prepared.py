"""`PreparedRun`: what the job knows once the data is ready and the model is chosen, handed to the last stages
(training, the zero-shot baseline, WiSE-FT, the final records) as one value."""

from dataclasses import dataclass

from har_finetune.data.labelled import LabelledImages
from har_finetune.data.split import Split
from har_finetune.models.registry import ModelFamily
from har_finetune.settings.spec import RunSpec


@dataclass(frozen=True)
class PreparedRun:
    spec: RunSpec
    source: LabelledImages
    split: Split
    datasets: dict  # "train", "validation", "test": torch datasets (data/datasets.py)
    model_family: ModelFamily
