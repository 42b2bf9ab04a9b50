"""Sticker attacks: EOT optimiser, losses, print-ready export."""

from patchsim.attack.config import AttackConfig
from patchsim.attack.eot import AttackResult, EOTAttack

__all__ = ["AttackConfig", "AttackResult", "EOTAttack"]
