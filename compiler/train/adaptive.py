"""TF1's adaptive optimizers: `RMSPropOptimizer`, `AdagradOptimizer`, `AdadeltaOptimizer`,
`FtrlOptimizer`.

Contract: the entry points, slot creation and hyperparameter handling of `Optimizer`
(optimizers.py); each `_apply_dense` is the update of TF1's fused kernel of the same name
(training_ops: ApplyRMSProp / ApplyCenteredRMSProp, ApplyAdagrad, ApplyAdadelta,
ApplyFtrl / ApplyFtrlV2), written with the same operation order, from pre-step values of
the variable and its slots (a slot's new value reaches the variable's update by data
flow). Slot names (`get_slot(var, NAME)`) and slot variable names are TF1's:

| optimizer | slots, in creation order | slot variables | initial values |
| --- | --- | --- | --- |
| RMSProp | "rms", "mg" (centered only), "momentum" | `w/RMSProp`, `w/RMSProp_1`, ... | 1, 0, 0 |
| Adagrad | "accumulator" | `w/Adagrad` | initial_accumulator_value |
| Adadelta | "accum", "accum_update" | `w/Adadelta`, `w/Adadelta_1` | 0, 0 |
| Ftrl | "accum", "linear" | `w/Ftrl`, `w/Ftrl_1` | initial_accumulator_value, 0 |

Invalid constant hyperparameters raise ValueError naming the optimizer and the argument,
as TF1 does, when the optimizer is constructed.
"""

from __future__ import annotations

import numbers

from ..frontend import math_ops as M
from ..frontend.array_ops import zeros_like
from ..frontend.control_flow import group
from ..frontend.manip_ops import where
from .optimizers import Optimizer, _hyper

__all__ = ["AdadeltaOptimizer", "AdagradOptimizer", "FtrlOptimizer", "RMSPropOptimizer"]


def _check(optimizer, arg, value, ok, what):
    """ValueError naming `optimizer` and `arg` when a numeric `value` fails `ok`."""
    if isinstance(value, numbers.Real) and not ok(value):
        raise ValueError(f"{optimizer}: {arg} = {value!r} {what}")


class RMSPropOptimizer(Optimizer):
    """`ms += (grad^2 - ms) * (1 - decay)`; centered: `mg += (grad - mg) * (1 - decay)`,
    `denom = ms - mg^2 + epsilon`, else `denom = ms + epsilon`;
    `mom = mom * momentum + grad * lr / sqrt(denom)`; `var -= mom`."""

    def __init__(self, learning_rate, decay=0.9, momentum=0.0, epsilon=1e-10,
                 use_locking=False, centered=False, name="RMSProp"):
        super().__init__(use_locking, name)
        self._lr, self._decay, self._momentum = learning_rate, decay, momentum
        self._epsilon, self._centered = epsilon, centered

    def _create_slots(self, var_list):
        for v in var_list:
            self._filled_slot(v, "rms", self._name, 1)
            if self._centered:
                self._zeros_slot(v, "mg", self._name)
            self._zeros_slot(v, "momentum", self._name)

    def _apply_dense(self, grad, var):
        dt = var.dtype
        lr, rho = _hyper(self._lr, dt, "learning_rate"), _hyper(self._decay, dt, "decay")
        momentum = _hyper(self._momentum, dt, "momentum")
        eps, one = _hyper(self._epsilon, dt, "epsilon"), _hyper(1.0, dt, "one")
        ms, mom = self.get_slot(var, "rms"), self.get_slot(var, "momentum")
        ms_t = ms.assign_add(M.multiply(M.subtract(M.square(grad), ms.value()),
                                        M.subtract(one, rho)))
        if self._centered:
            mg = self.get_slot(var, "mg")
            mg_t = mg.assign_add(M.multiply(M.subtract(grad, mg.value()), M.subtract(one, rho)))
            denom = M.add(M.subtract(ms_t, M.square(mg_t)), eps)
        else:
            denom = M.add(ms_t, eps)
        mom_t = mom.assign(M.add(M.multiply(mom.value(), momentum),
                                 M.divide(M.multiply(grad, lr), M.sqrt(denom))))
        return var.assign_sub(mom_t, read_value=False)


class AdagradOptimizer(Optimizer):
    """`accum += grad^2`; `var -= grad * lr * rsqrt(accum)`."""

    def __init__(self, learning_rate, initial_accumulator_value=0.1, use_locking=False,
                 name="Adagrad"):
        _check("AdagradOptimizer", "initial_accumulator_value", initial_accumulator_value,
               lambda x: x > 0, "must be positive")
        super().__init__(use_locking, name)
        self._lr, self._initial = learning_rate, initial_accumulator_value

    def _create_slots(self, var_list):
        for v in var_list:
            self._filled_slot(v, "accumulator", self._name, self._initial)

    def _apply_dense(self, grad, var):
        lr = _hyper(self._lr, var.dtype, "learning_rate")
        acc = self.get_slot(var, "accumulator")
        acc_t = acc.assign_add(M.square(grad))
        return var.assign_sub(M.multiply(M.multiply(grad, lr), M.rsqrt(acc_t)),
                              read_value=False)


class AdadeltaOptimizer(Optimizer):
    """`accum = accum * rho + grad^2 * (1 - rho)`;
    `update = sqrt(accum_update + epsilon) * rsqrt(accum + epsilon) * grad`;
    `var -= update * lr`; `accum_update = accum_update * rho + update^2 * (1 - rho)`."""

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-8, use_locking=False,
                 name="Adadelta"):
        super().__init__(use_locking, name)
        self._lr, self._rho, self._epsilon = learning_rate, rho, epsilon

    def _create_slots(self, var_list):
        for v in var_list:
            self._zeros_slot(v, "accum", self._name)
            self._zeros_slot(v, "accum_update", self._name)

    def _apply_dense(self, grad, var):
        dt = var.dtype
        lr, rho = _hyper(self._lr, dt, "learning_rate"), _hyper(self._rho, dt, "rho")
        eps, one = _hyper(self._epsilon, dt, "epsilon"), _hyper(1.0, dt, "one")
        accum, accum_update = self.get_slot(var, "accum"), self.get_slot(var, "accum_update")
        one_minus_rho = M.subtract(one, rho)
        accum_t = accum.assign(M.add(M.multiply(accum.value(), rho),
                                     M.multiply(M.square(grad), one_minus_rho)))
        update = M.multiply(M.multiply(M.sqrt(M.add(accum_update.value(), eps)),
                                       M.rsqrt(M.add(accum_t, eps))), grad)
        up_t = accum_update.assign(M.add(M.multiply(accum_update.value(), rho),
                                         M.multiply(M.square(update), one_minus_rho)))
        step = var.assign_sub(M.multiply(update, lr), read_value=False)
        return _after_both(step, up_t)


def _after_both(op, tensor):
    """`op` grouped with the op producing `tensor` (both run when the group runs)."""
    return group(op, tensor.op)


class FtrlOptimizer(Optimizer):
    """FTRL-Proximal (ApplyFtrl; ApplyFtrlV2 with l2_shrinkage), p = -learning_rate_power:
    `g' = grad + 2 * l2_shrinkage * var`; `new_accum = accum + grad^2`;
    `linear += g' - (new_accum^p - accum^p) / lr * var`;
    `quadratic = new_accum^p / lr + 2 * l2`;
    `var = (sign(linear) * l1 - linear) / quadratic` where `|linear| > l1`, else 0;
    `accum = new_accum`. With p = 0.5 the powers are square roots, as in the kernel."""

    def __init__(self, learning_rate, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 use_locking=False, name="Ftrl", accum_name=None, linear_name=None,
                 l2_shrinkage_regularization_strength=0.0):
        for arg, value, ok, what in (
                ("learning_rate_power", learning_rate_power, lambda x: x <= 0,
                 "must be less than or equal to zero"),
                ("initial_accumulator_value", initial_accumulator_value, lambda x: x >= 0,
                 "must be positive or zero"),
                ("l1_regularization_strength", l1_regularization_strength, lambda x: x >= 0,
                 "must be positive or zero"),
                ("l2_regularization_strength", l2_regularization_strength, lambda x: x >= 0,
                 "must be positive or zero"),
                ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength,
                 lambda x: x >= 0, "must be positive or zero")):
            _check("FtrlOptimizer", arg, value, ok, what)
        super().__init__(use_locking, name)
        self._lr, self._lr_power = learning_rate, learning_rate_power
        self._initial = initial_accumulator_value
        self._l1, self._l2 = l1_regularization_strength, l2_regularization_strength
        self._l2_shrinkage = l2_shrinkage_regularization_strength
        self._accum_name, self._linear_name = accum_name, linear_name

    def _create_slots(self, var_list):
        for v in var_list:
            self._filled_slot(v, "accum", self._accum_name or self._name, self._initial)
            self._zeros_slot(v, "linear", self._linear_name or self._name)

    def _power(self, x, dt):
        """x ** -learning_rate_power (a square root for TF1's default -0.5)."""
        if isinstance(self._lr_power, numbers.Real) and self._lr_power == -0.5:
            return M.sqrt(x)
        return M.pow(x, M.negative(_hyper(self._lr_power, dt, "learning_rate_power")))

    def _apply_dense(self, grad, var):
        dt = var.dtype
        lr = _hyper(self._lr, dt, "learning_rate")
        l1, l2 = _hyper(self._l1, dt, "l1"), _hyper(self._l2, dt, "l2")
        two = _hyper(2.0, dt, "two")
        accum, linear = self.get_slot(var, "accum"), self.get_slot(var, "linear")
        w, old = var.value(), accum.value()
        shrunk = grad
        if not (isinstance(self._l2_shrinkage, numbers.Real) and self._l2_shrinkage == 0):
            shrink = _hyper(self._l2_shrinkage, dt, "l2_shrinkage")
            shrunk = M.add(grad, M.multiply(M.multiply(two, shrink), w))
        new_accum = M.add(old, M.square(grad))
        sigma = M.divide(M.subtract(self._power(new_accum, dt), self._power(old, dt)), lr)
        linear_t = linear.assign_add(M.subtract(shrunk, M.multiply(sigma, w)))
        quadratic = M.add(M.divide(self._power(new_accum, dt), lr), M.multiply(two, l2))
        pre_shrink = M.divide(M.subtract(M.multiply(M.sign(linear_t), l1), linear_t), quadratic)
        var_t = var.assign(where(M.greater(M.abs(linear_t), l1), pre_shrink,
                                 zeros_like(pre_shrink)), read_value=False)
        accum_t = accum.assign(new_accum)
        return _after_both(var_t, accum_t)
