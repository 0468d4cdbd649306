"""The zero-shot baseline (`--zero_shot`): the class-prompt classifier scored on the test split before training.

python fine_tune_har_clip.py --zero_shot ...   # zero_shot_results.json: the baseline row of the report
"""

import logging
from pathlib import Path

import numpy as np
from transformers import Trainer

from har_finetune.core.metrics import logits_of, predictions_table
from har_finetune.models.registry import load_classifier
from har_finetune.models.zero_shot import prompts
from har_finetune.run_folder.reader import RunRecord
from har_finetune.run_folder.writer import write_zero_shot
from har_finetune.training.prepared import PreparedRun
from har_finetune.training.trainer import HarTrainer

logger = logging.getLogger(__name__)


def write_baseline(trainer: Trainer, run: PreparedRun) -> None:
    """Score the zero-shot classifier on the test split, before any training, into zero_shot_results.json and
    zero_shot_predictions.csv (test_predictions.csv's format). Done once per run folder.

    With `--head zero_shot` the trainer's own model is that classifier until `train()` starts; otherwise it is
    built here and scored by a trainer with the same data path.
    """
    test_dataset, class_names, model_type = run.datasets["test"], run.source.class_names, run.model_family.model_type
    name_or_path, head, templates = (
        run.spec.model.model_name_or_path,
        run.spec.model.head,
        run.spec.model.prompt_templates,
    )
    output_dir = Path(trainer.args.output_dir)
    if RunRecord(output_dir).has_zero_shot_baseline:
        return
    evaluator = trainer
    if head != "zero_shot":
        model, _ = load_classifier(name_or_path, class_names, trainer.args.seed, "zero_shot", templates)
        evaluator = HarTrainer(
            model=model,
            args=trainer.args,
            eval_dataset=trainer.eval_dataset,
            data_collator=trainer.data_collator,
            compute_metrics=trainer.compute_metrics,
            device_transform=trainer.device_transform,
        )
    output = evaluator.predict(test_dataset, metric_key_prefix="test")
    if not trainer.args.should_save:
        return
    logits = logits_of(output.predictions)
    results = {
        "model_type": model_type,
        "model_name_or_path": name_or_path,
        "templates": list(templates),
        "example_prompt": prompts(class_names[:1], templates[:1])[0],
        "num_test_samples": len(test_dataset),
        **{key: value for key, value in output.metrics.items() if key.startswith("test_")},
    }
    write_zero_shot(
        output_dir, results, predictions_table(test_dataset.ids, output.label_ids, np.asarray(logits), class_names)
    )
    logger.info(
        "zero-shot test accuracy %.4f, macro-F1 %.4f (%d templates)",
        results["test_accuracy"],
        results["test_macro_f1"],
        len(templates),
    )
