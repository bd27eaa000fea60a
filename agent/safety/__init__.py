"""Control and safety around the loop: risky-action confirmation, secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.safety.confirm import Confirmer, TerminalConfirmer
from agent.safety.policy import Assessment, RiskClassifier, SafetyPolicy, TargetInspector
from environments.capabilities import AppCatalog, TextAtPoint
from agent.safety.secrets import Secrets


@dataclass
class Safety:
    """What guards one agent: a policy, who confirms, and the secrets.

    The default is the command line's: risky actions are asked about on a terminal and refused without one.
    `Safety(policy=None)` lets every action through (a sandbox, a benchmark)."""

    policy: SafetyPolicy | None = field(default_factory=SafetyPolicy)
    confirmer: Confirmer = field(default_factory=TerminalConfirmer)
    secrets: Secrets = field(default_factory=Secrets)

    def __post_init__(self) -> None:
        self.classifier = RiskClassifier(self.policy) if self.policy else None


__all__ = ["AppCatalog", "Assessment", "Confirmer", "RiskClassifier", "Safety", "SafetyPolicy", "Secrets", "TargetInspector",
           "TerminalConfirmer", "TextAtPoint"]
