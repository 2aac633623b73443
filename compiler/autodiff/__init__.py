"""Symbol-to-symbol gradients: `gradients` and the rule table (`rules.RULES`)."""

from .gradients import gradients
from .rules import NON_DIFFERENTIABLE, RULES

__all__ = ["gradients", "RULES", "NON_DIFFERENTIABLE"]
