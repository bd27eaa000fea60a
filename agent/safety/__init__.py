"""Control and safety around the loop: risky-action confirmation, secrets."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.safety.confirm import Confirmer, TerminalConfirmer
from agent.safety.policy import AppCatalog, Assessment, RiskClassifier, SafetyPolicy, TargetInspector
from agent.safety.secrets import Secrets


@dataclass
class Safety:
    """What guards one agent: a policy (None lets every action through), who confirms, and the secrets."""

    policy: SafetyPolicy | None = None
    confirmer: Confirmer = field(default_factory=TerminalConfirmer)
    secrets: Secrets = field(default_factory=Secrets)

    def __post_init__(self) -> None:
        self.classifier = RiskClassifier(self.policy) if self.policy else None


__all__ = ["AppCatalog", "Assessment", "Confirmer", "RiskClassifier", "Safety", "SafetyPolicy", "Secrets", "TargetInspector",
           "TerminalConfirmer"]
