"""flowc: TF1-style dataflow graphs, compiled. `import compiler as fc`."""

from .frontend.array_ops import placeholder
from .frontend.control_flow import group, identity, no_op
from .frontend.core import constant, convert_to_tensor
from .frontend.math_ops import add, cast, divide, matmul, maximum, minimum, multiply, subtract
from .frontend.variables import (Variable, global_variables, global_variables_initializer,
                                 trainable_variables, variables_initializer)
from .ir.dtypes import bool_, float16, float32, float64, int32, int64, as_dtype
from .ir.graph import Graph, Operation, Tensor, get_default_graph, reset_default_graph
from .options import CompileOptions
from .session import ConfigProto, Session, get_default_session

bool = bool_  # noqa: A001  (TF1 spells it fc.bool)
