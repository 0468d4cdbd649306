"""`RunSpec`: one run's settings, parsed and checked once (settings/parser.py), then handed to every stage.

    spec = parse_run(["--dataset", "data/har", "--seed", "3"], "clip")
    spec.model.model_name_or_path, spec.data.split_seed, spec.training.seed, spec.run_dir, spec.identity

The stages take the spec (alignment-handbook's `get_dataset(script_args)`): `data.prepare.load_labelled(spec)`,
`scan_and_split(spec, ...)`, `build_datasets(spec, ...)`, `training.job.train(spec)`. The three settings dataclasses
stay the stock types (Trainer needs its TrainingArguments); the spec itself is frozen, so nothing downstream swaps a
group for another, and no stage changes a setting after parsing (settings/parser.py is the one place that does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from har_finetune.run_folder.identity import settings_identity
from har_finetune.settings.arguments import DataArguments, HarTrainingArguments, ModelArguments


@dataclass(frozen=True)
class RunSpec:
    family: str  # the script: "clip" or "siglip" (the checkpoint's model_type decides the rest: models/registry.py)
    model: ModelArguments
    data: DataArguments
    training: HarTrainingArguments
    notes: tuple[str, ...] = field(default=(), compare=False)  # settings we changed for the user, said once

    @property
    def run_dir(self) -> Path:
        return Path(self.training.output_dir)

    @cached_property
    def identity(self) -> MappingProxyType:
        """The flags that define the result (run_folder/identity.py); read-only: the job adds what it learns about
        the run (world size, the model's revision, the dataset's content) into new dicts with `|`."""
        return MappingProxyType(settings_identity(vars(self.model), vars(self.data), self.training.to_dict()))
