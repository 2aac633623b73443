"""`fc.summary`: TF1's summaries and event files for TensorBoard.

`scalar`, `histogram`, `image`, `text`, `merge`, `merge_all` add summary ops to the graph
(ops.py; they are evaluated on the host by `Session.run`), `FileWriter` writes event files
(writer.py) in TensorBoard's format: TFRecords (records.py) of hand-encoded protobufs
(proto.py), with GraphDefs of the user graph and of the compiled graph (graphdef.py).
"""

from .ops import (
    SUMMARY_OP_TYPES,
    histogram,
    image,
    merge,
    merge_all,
    run_with_summaries,
    scalar,
    text,
)
from .writer import FileWriter

__all__ = ["FileWriter", "histogram", "merge", "merge_all", "scalar", "SUMMARY_OP_TYPES",
           "run_with_summaries"]
__all__ += ["image", "text"]
