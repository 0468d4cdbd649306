"""The run folder, training's one output and the input of plotting, reporting, visualising and predicting.

docs/run_folder.md is the specification. This package is its one owner, and imports no torch:
- files.py        file names and atomic writes (a file that exists is complete)
- identity.py     the settings that define a run's result, recorded in run_config.json and checked on every rerun
- lock.py         one training process per run folder (filelock; what it guarantees on NFS and Lustre)
- checkpoints.py  which checkpoint is complete and may be resumed; whether the run finished
- writer.py       the writes, in the order that keeps the folder honest (all_results.json last)
- reader.py       the reads for plots, the report and visualisation
- probabilities.py  test_probabilities.csv read by position (the reader's `RunRecord.probabilities`)
"""
