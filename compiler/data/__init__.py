"""`tf.data` (`fc.data`) and TF1's queue-based input (`fc.train.*_input_producer`,
`fc.train.batch`, queues, `Coordinator`, `QueueRunner`): input pipelines run on the host
and feed compiled steps through the Session's host-input hook (hostio.py).

- `dataset.py`: `Dataset` and its transformations (descriptions; `_blocks` runs them);
- `blocks.py`: element streams as blocks of numpy arrays, the shuffle buffer;
- `iterator.py`: `Iterator`, `get_next()`, initializers, per-Session iterator state;
- `hostio.py`: the hook `Session.run` calls (sources, host ops);
- `queues.py`: host queues, queue runners, the coordinator;
- `producers.py`: input producers, `tf.train.batch`/`shuffle_batch`;
- `vectorize.py`: batching rules that run map/filter functions on whole blocks.
"""

import types as _types

from . import nest  # noqa: F401
from .dataset import Dataset
from .iterator import (
    Iterator,
    get_output_shapes,
    get_output_types,
    make_initializable_iterator,
    make_one_shot_iterator,
)

#: `tf.data.experimental.AUTOTUNE` (TF 1.13+ programs pass it to prefetch and map)
experimental = _types.SimpleNamespace(AUTOTUNE=-1)

__all__ = ["experimental", "Dataset", "Iterator", "get_output_shapes", "get_output_types",
           "make_initializable_iterator", "make_one_shot_iterator"]
