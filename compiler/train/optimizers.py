"""TF1 optimizers: `Optimizer`, `GradientDescentOptimizer`, `MomentumOptimizer`,
`AdamOptimizer`.

Contract (TF1's `tf.train.Optimizer`):

- `apply_gradients(grads_and_vars, global_step=None, name=None)` returns one op that, when
  run, applies the update of every variable with a gradient (pairs whose gradient is None
  are skipped; if every gradient is None it raises ValueError naming the variables) and,
  when `global_step` is given, increments it by one *after* all the updates (control
  dependencies). The returned op is `global_step`'s `assign_add` op, else a `NoOp` group.
- Updates are built from `Variable.assign` / `assign_add` primitives. Every variable read
  in a run sees the value from before the run (DESIGN.md, "State within one run"), so
  updates use pre-step values, exactly as TF1's fused kernels do; a slot's new value is
  passed to the variable's update by data flow.
- Slots (momentum accumulators, Adam's m and v) are non-trainable Variables created
  lazily on the first `apply_gradients`, named `<var>/<Optimizer name>` (then `_1`, ...:
  `w/Momentum`, `w/Adam`, `w/Adam_1`), initialized to zeros, in GLOBAL_VARIABLES, so
  `global_variables_initializer()` created afterwards covers them. Adam's non-slot
  `beta1_power` / `beta2_power` (dtype of the first variable by name) start at beta1 /
  beta2 and are multiplied by beta1 / beta2 after the updates of each step.
- Hyperparameters (learning rate, momentum, betas, epsilon) may be Python numbers,
  tensors, or zero-argument callables returning either; tensors are cast to each
  variable's dtype.
- `compute_gradients(loss, var_list=None)` returns [(gradient or None, variable)] from
  `fc.gradients` (compiler/autodiff), `var_list` defaulting to the trainable variables
  (a PartitionedVariable in `var_list` stands for its shards);
  `minimize(loss, global_step=None, var_list=None)` applies them and raises ValueError
  naming the variables and the loss when no variable has a gradient.
"""

from __future__ import annotations

import numpy as np

from ..frontend import math_ops as M
from ..frontend.array_ops import fill, zeros
from ..frontend.core import convert_to_tensor, create_op
from ..frontend.graph import Tensor
from ..frontend.partitioned import flatten_variables
from ..frontend.variables import TRAINABLE_VARIABLES, Variable

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer"]


def _var_key(var) -> str:
    return var.op.attrs["var"]


def _hyper(value, dtype, name):
    """A hyperparameter as a tensor of `dtype` (numbers become constants of that dtype)."""
    if callable(value) and not isinstance(value, Tensor):
        value = value()
    if isinstance(value, Tensor) or hasattr(value, "_as_graph_element"):
        t = convert_to_tensor(value)
        return t if t.dtype is dtype else M.cast(t, dtype)
    return convert_to_tensor(np.asarray(value, dtype=dtype.np), name=name)


class Optimizer:
    """Base class: subclasses define `_create_slots(var_list)` and `_apply_dense(grad,
    var)` (returning the variable's update op), optionally `_finish(update_ops, name)`."""

    def __init__(self, use_locking=False, name="Optimizer"):
        if not name:
            raise ValueError("an optimizer needs a name")
        self._name = name
        self._use_locking = use_locking
        self._slots: dict[str, dict[str, Variable]] = {}
        self._non_slots: dict[str, Variable] = {}

    def get_name(self):
        return self._name

    # slots ------------------------------------------------------------------------
    def get_slot_names(self):
        return sorted(self._slots)

    def get_slot(self, var, name):
        """The slot `name` of `var`, or None."""
        return self._slots.get(name, {}).get(_var_key(var))

    def variables(self):
        """The slot and non-slot variables this optimizer created."""
        made = [v for by_var in self._slots.values() for v in by_var.values()]
        return made + list(self._non_slots.values())

    def _zeros_slot(self, var, slot_name, op_name):
        return self._filled_slot(var, slot_name, op_name, 0)

    def _filled_slot(self, var, slot_name, op_name, value):
        """The slot `slot_name` of `var`, created once with every element `value`."""
        by_var = self._slots.setdefault(slot_name, {})
        key = _var_key(var)
        if key not in by_var:
            shape, dtype = tuple(var.shape), var.dtype
            by_var[key] = self._new_variable(lambda: _filled(shape, dtype, value),
                                             f"{key}/{op_name}", var.graph, var)
        return by_var[key]

    @staticmethod
    def _new_variable(init, name, graph, primary):
        """A slot or non-slot variable, colocated with `primary` (TF1's slot creator:
        under replica_device_setter a shard's slots live on the shard's ps task)."""
        with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None), \
                graph.colocate_with(primary):
            return Variable(init, trainable=False, name=name)

    # the TF1 entry points -----------------------------------------------------------
    def compute_gradients(self, loss, var_list=None, gate_gradients=None,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None):
        """[(gradient or None, variable)] for `var_list` (default: the trainable
        variables of `loss`'s graph), by `fc.gradients(loss, ...)`."""
        from ..autodiff import gradients
        loss = convert_to_tensor(loss)
        if var_list is None:
            var_list = loss.graph.get_collection(TRAINABLE_VARIABLES)
        var_list = flatten_variables(var_list)  # a PartitionedVariable: its shards
        if not var_list:
            raise ValueError("No variables to optimize.")
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"compute_gradients: {v!r} is not a Variable")
        grad_ys = None if grad_loss is None else [grad_loss]
        grads = gradients([loss], [v.value() for v in var_list], grad_ys=grad_ys)
        return list(zip(grads, var_list))

    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=None,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        """`compute_gradients` then `apply_gradients`; ValueError naming the variables
        and the loss when no variable has a gradient."""
        pairs = self.compute_gradients(loss, var_list=var_list, grad_loss=grad_loss)
        if all(g is None for g, _ in pairs):
            names = ", ".join(v.name for _, v in pairs)
            raise ValueError("No gradients provided for any variable, check your graph for "
                             f"ops that do not support gradients, between variables [{names}] "
                             f"and loss {convert_to_tensor(loss).name!r}.")
        return self.apply_gradients(pairs, global_step=global_step, name=name)

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """One op applying every (gradient, variable) update; see the module docstring."""
        pairs = _check_pairs(grads_and_vars)
        graph = pairs[0][1].graph
        var_list = [v for _, v in pairs]
        self._create_slots(var_list)
        with graph.as_default(), graph.name_scope(name or self._name) as scope:
            self._prepare()
            updates = []
            for grad, var in pairs:
                with graph.name_scope("update_" + _var_key(var).replace(":", "_")):
                    updates.append(_as_op(self._apply_dense(grad, var)))
            if global_step is None:
                return self._finish(updates, scope)  # named exactly `name` (TF1)
            finish = self._finish(updates, "update")
            with graph.control_dependencies([finish]):
                return global_step.assign_add(1, name=scope, read_value=False)

    def _prepare(self):
        """Hook run inside the apply_gradients name scope before the updates."""

    def _create_slots(self, var_list):
        """Create the slot variables (lazily, once per variable)."""

    def _apply_dense(self, grad, var):
        raise NotImplementedError

    def _finish(self, update_ops, name):
        """The op grouping the updates; `name` ending in "/" is used exactly."""
        return _group(update_ops, name)


def _group(ops, name):
    """A NoOp after `ops`, named `name` (exactly, when it ends in "/")."""
    with ops[0].graph.control_dependencies(ops):
        return create_op("NoOp", [], {}, name)


def _as_op(x):
    return x.op if isinstance(x, Tensor) else x


def _check_pairs(grads_and_vars):
    """The (gradient tensor, variable) pairs with a gradient; ValueError when none has."""
    pairs = list(grads_and_vars)
    if not pairs:
        raise ValueError("No variables provided.")
    kept = []
    for grad, var in pairs:
        if not isinstance(var, Variable):
            raise TypeError(f"apply_gradients expects (gradient, Variable) pairs, got {var!r}")
        if grad is None:
            continue
        grad = convert_to_tensor(grad, dtype=var.dtype)
        if grad.shape.is_fully_defined() and tuple(grad.shape) != tuple(var.shape):
            raise ValueError(f"gradient {grad.name!r} has shape {grad.shape}, but variable "
                             f"{var.name!r} has shape {var.shape}")
        kept.append((grad, var))
    if not kept:
        names = ", ".join(v.name for _, v in pairs)
        raise ValueError(f"No gradients provided for any variable: ({names}).")
    return kept


class GradientDescentOptimizer(Optimizer):
    """`var -= learning_rate * grad`."""

    def __init__(self, learning_rate, use_locking=False, name="GradientDescent"):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate

    def _apply_dense(self, grad, var):
        lr = _hyper(self._learning_rate, var.dtype, "learning_rate")
        return var.assign_sub(M.multiply(grad, lr), read_value=False)


class MomentumOptimizer(Optimizer):
    """`accum = accum * momentum + grad`; `var -= lr * accum`, or with Nesterov
    `var -= grad * lr + accum * momentum * lr` (TF1's ApplyMomentum kernel).
    Slot: `var/Momentum`."""

    def __init__(self, learning_rate, momentum, use_locking=False, name="Momentum",
                 use_nesterov=False):
        super().__init__(use_locking, name)
        self._learning_rate = learning_rate
        self._momentum = momentum
        self._use_nesterov = use_nesterov

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var):
        lr = _hyper(self._learning_rate, var.dtype, "learning_rate")
        mom = _hyper(self._momentum, var.dtype, "momentum")
        accum = self.get_slot(var, "momentum")
        accum_t = accum.assign(M.add(M.multiply(accum.value(), mom), grad))
        if self._use_nesterov:
            step = M.add(M.multiply(grad, lr), M.multiply(M.multiply(accum_t, mom), lr))
        else:
            step = M.multiply(accum_t, lr)
        return var.assign_sub(step, read_value=False)


class AdamOptimizer(Optimizer):
    """TF1's Adam (ApplyAdam kernel), with t the step number starting at 1:
    `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`, `m += (grad - m) * (1 - beta1)`,
    `v += (grad^2 - v) * (1 - beta2)`, `var -= lr_t * m / (sqrt(v) + epsilon)`.
    Slots `var/Adam` (m) and `var/Adam_1` (v); non-slots `beta1_power`, `beta2_power`."""

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 use_locking=False, name="Adam"):
        super().__init__(use_locking, name)
        self._lr, self._beta1, self._beta2, self._epsilon = learning_rate, beta1, beta2, epsilon

    def _create_slots(self, var_list):
        first = min(var_list, key=_var_key)
        for which, beta in (("beta1_power", self._beta1), ("beta2_power", self._beta2)):
            if which not in self._non_slots:
                initial = beta() if callable(beta) and not isinstance(beta, Tensor) else beta
                self._non_slots[which] = self._new_variable(
                    _initial_of(initial, first.dtype), which, first.graph, first)
        for v in var_list:
            self._zeros_slot(v, "m", self._name)
            self._zeros_slot(v, "v", self._name)

    def _get_beta_accumulators(self):
        return self._non_slots["beta1_power"], self._non_slots["beta2_power"]

    def _apply_dense(self, grad, var):
        dt = var.dtype
        lr = _hyper(self._lr, dt, "learning_rate")
        beta1, beta2 = _hyper(self._beta1, dt, "beta1"), _hyper(self._beta2, dt, "beta2")
        eps = _hyper(self._epsilon, dt, "epsilon")
        one = _hyper(1.0, dt, "one")
        b1p, b2p = (_cast_to(p.value(), dt) for p in self._get_beta_accumulators())
        lr_t = M.divide(M.multiply(lr, M.sqrt(M.subtract(one, b2p))), M.subtract(one, b1p))
        m, v = self.get_slot(var, "m"), self.get_slot(var, "v")
        m_t = m.assign_add(M.multiply(M.subtract(grad, m.value()), M.subtract(one, beta1)))
        v_t = v.assign_add(M.multiply(M.subtract(M.square(grad), v.value()),
                                      M.subtract(one, beta2)))
        step = M.divide(M.multiply(lr_t, m_t), M.add(M.sqrt(v_t), eps))
        return var.assign_sub(step, read_value=False)

    def _finish(self, update_ops, name):
        b1p, b2p = self._get_beta_accumulators()
        graph = b1p.graph
        with graph.control_dependencies(update_ops):
            up1 = b1p.assign(M.multiply(b1p.value(), _hyper(self._beta1, b1p.dtype, "beta1")),
                             name="update_beta1", read_value=False)
            up2 = b2p.assign(M.multiply(b2p.value(), _hyper(self._beta2, b2p.dtype, "beta2")),
                             name="update_beta2", read_value=False)
        return _group(update_ops + [up1, up2], name)


def _filled(shape, dtype, value):
    if value == 0:
        return zeros(shape, dtype)
    return fill(list(shape), np.asarray(value, dtype=dtype.np))


def _cast_to(t, dtype):
    return t if t.dtype is dtype else M.cast(t, dtype)


def _initial_of(value, dtype):
    """The initial value of a beta power: a number, or a tensor cast to `dtype`."""
    if isinstance(value, Tensor):
        return lambda: _cast_to(value, dtype)
    return np.asarray(value, dtype=dtype.np)
