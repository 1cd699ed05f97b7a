"""Command-line tools that work on the platform from outside: the offline policy check, the pack's
evaluation on labelled fixtures, the policy-pack config per environment, generated platform facts, the
safety scanners' evaluation and training, and the confusion matrix the evaluations share. Nothing in the
runtime packages imports from here."""

__all__ = [
    "confusion",
    "policy_cases",
    "policy_check",
    "policy_config",
    "policy_docs",
    "policy_eval",
    "policy_facts",
    "policy_upstream",
    "scanner_eval",
    "scanner_train",
]
