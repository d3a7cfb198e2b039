"""Experiment tables that train, resume and evaluate themselves: `python -m paddle_vae.experiments`.

    spec       the table file: dataset, shared budget, evaluation plan, rows
    runfolder  what a row's run folder says (bundles, logs, evaluations)
    runner     `run`: train, resume, evaluate and record each row
    report     `status` and `table`
"""
