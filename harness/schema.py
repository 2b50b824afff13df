"""The results.csv schema: one tidy row per evaluation, shared by the store and the statistics."""

METRICS = ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "roc_auc", "tp", "fp", "tn", "fn", "n_test")
CSV_COLUMNS = ("seed", "condition", "order", "stage", "trained_actor", "eval_actor", "position", *METRICS)
