"""The names of a run directory's entries: one place, so every module means the same file.

The store writes the record (``CONFIG``, ``STORE``) and exports the CSV and parquet files, the
sequential loop writes ``SEQUENTIAL``, the report writes ``REPORT_MD``, ``REPORT_JSON``,
``VERDICTS`` and the plots; ``harness compare`` writes ``COMPARE_*`` into a folder of its own.
"""

CONFIG = "config.json"  # the study, the data loaded, the model, where it ran (written once)
STORE = "results.sqlite"  # every finished node's evaluations, the plans, the looks, the sessions
STORE_JOURNAL = "results.sqlite-journal"
LOCK = ".lock"  # held by the one process writing the run
SNAPSHOTS = "snapshots"  # <seed>/<path>.npz: the weights a resumed run branches from
RESULTS = "results.csv"  # one tidy row per evaluation (harness.schema)
TRAININGS = "trainings.csv"
SESSIONS = "sessions.csv"
PREDICTIONS = "predictions.parquet"  # one row per test image and node
SEQUENTIAL = "sequential.json"  # --seeds auto: the design, each look, why it stopped
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
VERDICTS = "verdicts.csv"
PLOTS = "plot_*.png"
COMPARE_MD = "compare.md"
COMPARE_CSV = "compare.csv"
COMPARE_PLOT = "plot_compare.png"

RECORD = (CONFIG, STORE)
"""What makes a directory a run record: a directory holding neither (nor nothing) is not one."""
FOLDERS = (SNAPSHOTS,)
FILES = (
    *RECORD,
    LOCK,
    STORE_JOURNAL,
    RESULTS,
    TRAININGS,
    SESSIONS,
    PREDICTIONS,
    SEQUENTIAL,
    REPORT_MD,
    REPORT_JSON,
    VERDICTS,
    PLOTS,
)
"""The entries a run writes, each of which must be of its kind for the run to end well."""
