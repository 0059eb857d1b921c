"""Which training sentences drove a prediction: nearest neighbours in the pooled-feature space
(``similar``) and TracIn over the run's kept checkpoints (``tracin``).

    run = td.load_run("runs/sst")
    run.similar(["a gripping , funny movie"], k=5).to_frame()
    run.influence(["a gripping , funny movie"], k=5).to_frame()     # proponents and opponents
    run.self_influence().head(20)                                    # candidates for label noise

Stage: after the model (it reads checkpoints and the run's training sentences), beside attribution.
"""
