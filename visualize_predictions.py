"""Write annotated test predictions (green = right, red = wrong) and a grid per run into SampleOutputs/<Model>/.

    python visualize_predictions.py outputs/clip outputs/siglip          # 16 samples each, seed 0
    python visualize_predictions.py outputs/demo/clip outputs/demo/siglip --out_root outputs/demo/samples
    python visualize_predictions.py outputs/clip --only_mistakes --num_samples 8
    python visualize_predictions.py outputs/clip --one_per_class --repredict   # re-run the saved model on CPU

Takes run folders or folders holding run folders (a campaign: every run under it), as plot_metrics.py does. Each
run gets the folder of its model's name; runs of one model get the end of their folder path too (`CLIP-seed-2`),
and a folder that holds another run's samples is never overwritten: a note says so and the samples go beside it.
Uses test_predictions.csv and the dataset named in run_config.json (or --data_root); the saved model only with
--repredict or when the run has no test_predictions.csv.
"""

from har_finetune.core.cli import run_cli
from har_finetune.reporting.samples_command import main

if __name__ == "__main__":
    run_cli(main)
