"""Speed measurements, kept apart from the library: nothing in paddle_vae imports this package.

    python -m paddle_vae.bench ...                  the benchmark (run.py: rows against the reference and PyTorch)
    python -m paddle_vae.bench.profile_step ...     where one training step's time goes
    python -m paddle_vae.bench.step_variants ...    two step variants that were tried and not adopted

`run` starts every row in its own process (`workers`, `torch_row`); `rows`
saves the batches the rows share and runs the evaluation and Yahoo rows;
`report` prints the tables; `common` is what all of these processes share.
"""
