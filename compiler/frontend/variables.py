"""TF1 variables: `Variable`, initializers, assign ops and the variable collections.

A `Variable` is a `variable` op (its output is the variable's value in a run) plus an
initializer (an `assign` of the initial value). `assign`/`assign_add` create state ops
whose output is the new value. The value store lives in the Session's runtime, not here.
"""

from __future__ import annotations

from ..ir import dtypes as T
from .core import convert_to_tensor, make_op
from .graph import Tensor, get_default_graph, get_default_session
from .partitioned import SaveSliceInfo

GLOBAL_VARIABLES = "variables"
TRAINABLE_VARIABLES = "trainable_variables"
LOCAL_VARIABLES = "local_variables"


class GraphKeys:
    """Standard collection names (TF1 `tf.GraphKeys`)."""

    GLOBAL_VARIABLES = GLOBAL_VARIABLES
    TRAINABLE_VARIABLES = TRAINABLE_VARIABLES
    LOCAL_VARIABLES = LOCAL_VARIABLES
    METRIC_VARIABLES = "metric_variables"
    GLOBAL_STEP = "global_step"
    REGULARIZATION_LOSSES = "regularization_losses"
    LOSSES = "losses"
    SUMMARIES = "summaries"
    UPDATE_OPS = "update_ops"
    TRAIN_OP = "train_op"
    QUEUE_RUNNERS = "queue_runners"


class Variable:
    #: TF1's `tf.Variable.SaveSliceInfo`
    SaveSliceInfo = SaveSliceInfo
    #: where this variable sits in a PartitionedVariable (a SaveSliceInfo), None for a
    #: whole variable
    _save_slice_info = None

    def __init__(self, initial_value=None, trainable=True, name=None, dtype=None,
                 collections=None, validate_shape=True):
        if initial_value is None:
            raise ValueError("Variable needs an initial_value")
        graph = get_default_graph()
        with graph.name_scope(name or "Variable") as scope:
            base = scope[:-1]
            if callable(initial_value):
                initial_value = initial_value()
            init = convert_to_tensor(initial_value, dtype=None, name="initial_value")
            if dtype is not None and init.dtype is not T.as_dtype(dtype):
                from .math_ops import cast
                init = cast(init, dtype)
            shape = init.shape
            if not shape.is_fully_defined():
                raise ValueError(f"variable {base!r}: the initial value must have a fully "
                                 f"defined shape, got {shape}")
            self._dtype = init.dtype
            self._shape = tuple(shape)
            self._op = graph.create_op("variable", [], {"var": base, "dtype": init.dtype,
                                                         "shape": self._shape}, name=base,
                                       exact_name=True)
            self._initial_value = init
            self._initializer = make_op("assign", [init], name="Assign", **self._var_attrs())
        self.trainable = trainable
        for key in collections or [GLOBAL_VARIABLES]:
            graph.add_to_collection(key, self)
        if trainable and TRAINABLE_VARIABLES not in (collections or []):
            graph.add_to_collection(TRAINABLE_VARIABLES, self)

    @classmethod
    def _from_graph(cls, op, initializer, initial_value, trainable=True):
        """The Variable of an existing `variable` op (a graph rebuilt by
        train/meta_graph.py's import_meta_graph); adds it to no collection."""
        if op.type != "variable":
            raise TypeError(f"{op.name!r} is a {op.type} op, not a variable")
        self = cls.__new__(cls)
        self._op = op
        self._dtype = op.attrs["dtype"]
        self._shape = tuple(op.attrs["shape"])
        self._initial_value = initial_value
        self._initializer = initializer
        self.trainable = trainable
        return self

    def _set_save_slice_info(self, save_slice_info):
        self._save_slice_info = save_slice_info

    def _get_save_slice_info(self):
        return self._save_slice_info

    def _var_attrs(self):
        return {"var": self._op.attrs["var"], "dtype": self._dtype, "shape": self._shape}

    # TF1 surface -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._op.name + ":0"

    @property
    def op(self):
        return self._op

    @property
    def graph(self):
        return self._op.graph

    @property
    def dtype(self):
        return self._dtype

    @property
    def shape(self):
        return self._op.outputs[0].shape

    def get_shape(self):
        return self.shape

    @property
    def initializer(self):
        return self._initializer

    @property
    def initial_value(self) -> Tensor:
        return self._initial_value

    def value(self) -> Tensor:
        return self._op.outputs[0]

    def _as_graph_element(self) -> Tensor:
        return self._op.outputs[0]

    def read_value(self) -> Tensor:
        return _identity(self.value(), name="read")

    def assign(self, value, use_locking=None, name=None, read_value=True):
        value = convert_to_tensor(value, dtype=self._dtype)
        op = make_op("assign", [value], name=name or "Assign", **self._var_attrs())
        return op.outputs[0] if read_value else op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        delta = convert_to_tensor(delta, dtype=self._dtype)
        op = make_op("assign_add", [self.value(), delta], name=name or "AssignAdd",
                     **self._var_attrs())
        return op.outputs[0] if read_value else op

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        from .math_ops import negative
        return self.assign_add(negative(convert_to_tensor(delta, dtype=self._dtype)),
                               name=name or "AssignSub", read_value=read_value)

    def eval(self, session=None):
        return self.value().eval(session=session)

    def load(self, value, session=None):
        (session or get_default_session())._store.set(self._op.attrs["var"], value)

    def __repr__(self):
        return f"<fc.Variable {self.name!r} shape={list(self._shape)} dtype={self._dtype.name}>"


def _identity(t, name):
    g = t.graph
    return g.create_op("identity", [t], {}, name=name, out_type=t.type).outputs[0]


def global_variables(scope=None):
    return get_default_graph().get_collection(GLOBAL_VARIABLES, scope)


def trainable_variables(scope=None):
    return get_default_graph().get_collection(TRAINABLE_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    from .control_flow import group
    return group(*[v.initializer for v in var_list], name=name)


def global_variables_initializer():
    return variables_initializer(global_variables(), name="init")


def initialize_all_variables():
    return global_variables_initializer()


def local_variables(scope=None):
    """The variables in the LOCAL_VARIABLES collection of the default graph."""
    return get_default_graph().get_collection(LOCAL_VARIABLES, scope)


def local_variables_initializer():
    """An op initializing the local variables (a no-op when there are none)."""
    return variables_initializer(local_variables(), name="init_1")


def get_collection(key, scope=None):
    """The items of collection `key` in the default graph (names starting with
    `scope` when given)."""
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    """The list that is collection `key` of the default graph (mutations are seen)."""
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name, value):
    """Append `value` to collection `name` of the default graph."""
    get_default_graph().add_to_collection(name, value)


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """`ref.assign(value)`: the assign op's output (the new value)."""
    return ref.assign(value, name=name)


def assign_add(ref, value, use_locking=None, name=None):
    """`ref.assign_add(value)`."""
    return ref.assign_add(value, name=name)


def assign_sub(ref, value, use_locking=None, name=None):
    """`ref.assign_sub(value)`."""
    return ref.assign_sub(value, name=name)
