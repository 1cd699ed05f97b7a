"""Facts about the platform that the components, the stacks and the policy pack all read.

The leaf of the import graph: nothing here imports `components`, `stacks`, `services` or the pack's
rules, so the policy pack can ship this package beside its rules (`pulumi policy publish policies`).

- `project`: the platform's identity (name, label domain and the names derived from them); a fork changes it.
- `tags`: the AWS tags every resource carries, and which resource types can carry tags.
- `kubernetes`: the labels every Kubernetes object carries, the GPU node taint, label and resource.
- `eks`: the control-plane log types every cluster ships, cluster-autoscaler's discovery tags.
- `identity`: the tag that marks the Ray serving pods' IAM role.
- `ports`: the gateway's port and the Ray ports that must never leave the namespace.
- `cost`: the dated price tables (`prices/`) and the one monthly cost model.
"""

__all__ = ["cost", "eks", "identity", "kubernetes", "ports", "project", "tags"]
