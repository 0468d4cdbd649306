"""Benchmarks of har_finetune, beside the code they measure (not part of the package users import).

python benchmarks/bench.py --device cpu       # data path, model steps, a whole run: ours against the stock recipe
python benchmarks/scaling.py --images 1500    # a run's phases and peak memory as the dataset grows
bash scripts/gpu_check.sh                     # everything above on the GPU machine, one table (docs/performance.md)
"""
