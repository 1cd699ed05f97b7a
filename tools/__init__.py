"""Command-line tools that work on the platform from outside: the offline policy check, the pack's
evaluation on labelled fixtures, the policy-pack config per environment, generated platform facts, the
safety scanners' evaluation and training, and the confusion matrix the evaluations share. Nothing in the
runtime packages imports from here."""

__all__ = [
    "confusion",
    "policy_check",
    "policy_config",
    "policy_eval",
    "policy_facts",
    "scanner_eval",
    "scanner_train",
]
