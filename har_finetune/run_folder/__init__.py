"""The run folder, training's one output and the input of plotting, reporting, visualising and predicting.

docs/run_folder.md is the specification. This package is its one owner, and imports no torch; no other module spells
a file name of it (tests/test_architecture.py checks):
- files.py        file names and atomic writes (a file that exists is complete)
- identity.py     the settings that define a run's result, recorded in run_config.json
- rerun.py        may a run train here: a folder holding another run is refused (raises, never answers)
- lock.py         one training process per run folder (filelock; what it guarantees on NFS and Lustre)
- checkpoints.py  which checkpoint is complete and may be resumed; whether the run finished (answers, never raises)
- writer.py       every write into a run folder, training's and the figures', in the order that keeps the folder
                  honest (all_results.json last)
- reader.py       every read: `RunRecord` for training's reruns, plots, the report, samples, predict, the demo
- probabilities.py  test_probabilities.csv read by position (the reader's `RunRecord.probabilities`)
"""
