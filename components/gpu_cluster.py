"""`GpuCluster`: the cloud GPU cluster (EKS) and its platform add-ons.

The API endpoint is private unless config names the CIDRs allowed to reach it; Kubernetes secrets
are envelope-encrypted with the platform's KMS key; every control-plane log type goes to a
KMS-encrypted log group; pods get AWS permissions only through IRSA (the cluster's OIDC provider) or
EKS Pod Identity (the `eks-pod-identity-agent` add-on and one association per service account).
Nodes boot from launch templates that require IMDSv2 with a hop limit of 1, so pods cannot borrow
the node's role. GPU capacity is either managed node groups (resized by cluster-autoscaler when they can grow) or
Karpenter, chosen in config; both taint GPU nodes with `nvidia.com/gpu=true:NoSchedule`. The AWS Load
Balancer Controller gives the platforms' `Ingress` objects internal, TLS-terminating load balancers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components._kubernetes import PlatformAddons, helm_release, install_platform_addons
from components.gpu_autoscaler import cluster_autoscaler, discovery_tags, needs_autoscaler
from components.gpu_cluster_settings import GpuClusterSettings, KarpenterPool, gpu_ami_type
from components.ingress_controller import aws_load_balancer_controller
from platform_facts.eks import CONTROL_PLANE_LOG_TYPES
from platform_facts.kubernetes import GPU_NODE_LABEL, GPU_TAINT, platform_labels
from platform_facts.project import label, type_token

__all__ = [
    "INTERRUPTION_EVENTS",
    "GpuCluster",
    "GpuClusterArgs",
    "eks_kubeconfig",
    "interruption_queue_policy",
    "irsa_trust_policy",
    "karpenter_node_pool_spec",
]


# The events Karpenter's interruption controller understands, as EventBridge patterns.
INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
}

def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA).

    `oidc_issuer` is the issuer URL with or without `https://`.
    """
    issuer = oidc_issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": oidc_provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                            f"{issuer}:aud": "sts.amazonaws.com",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def eks_kubeconfig(cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token` (no long-lived credentials)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": cluster_name,
                    "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
                }
            ],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
            "current-context": cluster_name,
            "users": [
                {
                    "name": cluster_name,
                    "user": {
                        "exec": {
                            "apiVersion": "client.authentication.k8s.io/v1beta1",
                            "command": "aws",
                            "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region],
                        }
                    },
                }
            ],
        }
    )


@dataclass(frozen=True)
class GpuClusterArgs:
    """Inputs of a `GpuCluster`: the environment's settings and what other resources provide."""

    settings: GpuClusterSettings
    environment: str
    """Environment name, for Kubernetes labels."""
    region: str
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets of the control plane's network interfaces and of every node."""
    kms_key_arn: pulumi.Input[str]
    """Key for envelope encryption of Kubernetes secrets and for the control-plane log group."""
    spot_allowed: bool = False
    """Whether any pool may use spot capacity."""
    log_retention_days: int = 365
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus may scrape the add-ons."""
    ingress_hostnames: Sequence[str] = ()
    """Hostnames of the platforms on this cluster: the certificate requested when config names none."""

    def __post_init__(self) -> None:
        self.settings.check_spot_allowed(self.spot_allowed)


def _assume_role(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def _managed_policy(policy: str) -> str:
    return f"arn:aws:iam::aws:policy/{policy}"


class GpuCluster(pulumi.ComponentResource):
    """EKS cluster with a system node group, GPU capacity and its autoscaling owner (cluster-autoscaler
    for managed groups that can grow, or Karpenter), GPU software, the KubeRay operator, the AWS Load
    Balancer Controller and the EKS Pod Identity agent.

    Outputs: `cluster_name`, `cluster_arn`, `kubeconfig` (secret), `oidc_provider_arn`, `oidc_issuer`,
    `node_role_arn`, `interruption_queue_url` (Karpenter only); and `provider` (a Kubernetes
    provider for this cluster), `addons` and `pod_identity_agent` for the components deployed onto it.
    """

    cluster_name: pulumi.Output[str]
    cluster_arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]
    node_role_arn: pulumi.Output[str]
    interruption_queue_url: pulumi.Output[str] | None
    """The SQS queue Karpenter reads EC2 interruption events from; None with managed node groups."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster, for the components deployed onto it."""
    addons: PlatformAddons
    """GPU software, KubeRay operator and ingress controller installed on the cluster."""
    pod_identity_agent: aws.eks.Addon
    """The `eks-pod-identity-agent` add-on: a Pod Identity association depends on it."""
    autoscaler: k8s.helm.v3.Release | None
    """cluster-autoscaler, when a managed GPU group may grow; None otherwise (fixed groups, or Karpenter)."""

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("GpuCluster"), name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = args.settings

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role", assume_role_policy=_assume_role("eks.amazonaws.com"), opts=child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=_managed_policy("AmazonEKSClusterPolicy"),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-cluster-kms",
            role=cluster_role.id,
            policy=pulumi.Output.from_input(args.kms_key_arn).apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateGrant"],
                                "Resource": arn,
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        # EKS writes to this exact name; creating it first sets retention and encryption.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            opts=child,
        )
        public = bool(settings.public_access_cidrs)
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=name,
            version=settings.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": args.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": public,
                "public_access_cidrs": list(settings.public_access_cidrs) if public else None,
            },
            encryption_config={"provider": {"key_arn": args.kms_key_arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": True},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        issuer = cluster.identities.apply(lambda identities: identities[0]["oidcs"][0]["issuer"])
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=child
        )

        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=_assume_role("ec2.amazonaws.com"), opts=child)
        for policy in (
            "AmazonEKSWorkerNodePolicy",
            "AmazonEKS_CNI_Policy",
            "AmazonEC2ContainerRegistryReadOnly",
            "AmazonSSMManagedInstanceCore",
        ):
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy.lower().replace('_', '-')}",
                role=node_role.name,
                policy_arn=_managed_policy(policy),
                opts=child,
            )

        labels = platform_labels(environment=args.environment, data_class=settings.data_class, component="nodes")
        system_template = self._launch_template(f"{name}-system-lt", disk_size_gb=100)
        autoscaled = needs_autoscaler(settings.managed_node_pools)
        # cluster-autoscaler discovers every managed group EKS tagged, the system group included: where it
        # runs, it owns the desired size of each group that can change size.
        system_autoscaled = autoscaled and settings.system_pool.min_size < settings.system_pool.max_size
        system_group = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=[settings.system_pool.instance_type],
            ami_type="AL2023_x86_64_STANDARD",
            capacity_type="ON_DEMAND",
            scaling_config={
                "min_size": settings.system_pool.min_size,
                "desired_size": settings.system_pool.desired_size,
                "max_size": settings.system_pool.max_size,
            },
            launch_template={"id": system_template.id, "version": system_template.latest_version.apply(str)},
            labels={**labels, label("pool"): "system"},
            update_config={"max_unavailable": 1},
            tags=discovery_tags(name) if system_autoscaled else None,
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["scalingConfig.desiredSize"] if system_autoscaled else None
            ),
        )
        node_groups: list[pulumi.Resource] = [system_group]
        for pool in settings.managed_node_pools:
            template = self._launch_template(f"{name}-{pool.name}-lt", disk_size_gb=pool.disk_size_gb)
            node_groups.append(
                aws.eks.NodeGroup(
                    f"{name}-{pool.name}",
                    cluster_name=cluster.name,
                    node_role_arn=node_role.arn,
                    subnet_ids=args.private_subnet_ids,
                    instance_types=[pool.instance_type],
                    ami_type=gpu_ami_type(pool.instance_type),
                    capacity_type=pool.capacity_type.upper(),
                    scaling_config={
                        "min_size": pool.min_size,
                        "desired_size": pool.desired_size,
                        "max_size": pool.max_size,
                    },
                    launch_template={"id": template.id, "version": template.latest_version.apply(str)},
                    labels={**labels, label("pool"): pool.name, GPU_NODE_LABEL: "true"},
                    taints=[{"key": GPU_TAINT["key"], "value": GPU_TAINT["value"], "effect": "NO_SCHEDULE"}],
                    update_config={"max_unavailable": 1},
                    # EKS puts the same tags on the group's Auto Scaling group; here the plan shows them.
                    tags=discovery_tags(name) if autoscaled else None,
                    # cluster-autoscaler moves the desired size; an update must not reset it.
                    opts=pulumi.ResourceOptions(
                        parent=self, ignore_changes=["scalingConfig.desiredSize"] if autoscaled else None
                    ),
                )
            )

        self.pod_identity_agent = aws.eks.Addon(
            f"{name}-pod-identity-agent",
            cluster_name=cluster.name,
            addon_name="eks-pod-identity-agent",
            resolve_conflicts_on_create="OVERWRITE",
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_groups),
        )
        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer = issuer
        self.node_role_arn = node_role.arn
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(
                cluster.name, cluster.endpoint, cluster.certificate_authority.apply(lambda ca: ca["data"])
            ).apply(lambda values: eks_kubeconfig(values[0], values[1], values[2], args.region))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=node_groups),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)

        capacity: list[pulumi.Resource] = []
        self.interruption_queue_url = None
        karpenter = settings.karpenter_pool
        if karpenter is not None:
            queue = self._interruption_queue(name, child)
            self.interruption_queue_url = queue.url
            capacity = self._karpenter(name, args, karpenter, cluster, node_role, oidc, issuer, queue, on_cluster)
        add_on_labels = platform_labels(
            environment=args.environment, data_class=settings.data_class, component="addons"
        )
        self.autoscaler = None
        if autoscaled:
            self.autoscaler = cluster_autoscaler(
                name,
                cluster_name=name,
                cluster_arn=cluster.arn,
                region=args.region,
                kubernetes_version=settings.kubernetes_version,
                labels=add_on_labels,
                pod_identity_agent=self.pod_identity_agent,
                parent=self,
                provider=self.provider,
            )
        ingress = aws_load_balancer_controller(
            name,
            settings.ingress,
            cluster_name=cluster.name,
            cluster_arn=cluster.arn,
            vpc_id=cluster.vpc_config.vpc_id,
            region=args.region,
            hostnames=args.ingress_hostnames,
            labels=add_on_labels,
            pod_identity_agent=self.pod_identity_agent,
            parent=self,
            provider=self.provider,
        )
        self.addons = install_platform_addons(
            name,
            settings,
            environment=args.environment,
            monitoring_namespace=args.monitoring_namespace,
            parent=self,
            provider=self.provider,
            ingress=ingress,
            depends_on=capacity,
        )
        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "cluster_arn": self.cluster_arn,
                "kubeconfig": self.kubeconfig,
                "oidc_provider_arn": self.oidc_provider_arn,
                "oidc_issuer": self.oidc_issuer,
                "node_role_arn": self.node_role_arn,
                "interruption_queue_url": self.interruption_queue_url,
            }
        )

    def _launch_template(self, resource_name: str, *, disk_size_gb: int) -> aws.ec2.LaunchTemplate:
        """IMDSv2 only, hop limit 1 (pods use IRSA, never the node role), encrypted gp3 root volume."""
        return aws.ec2.LaunchTemplate(
            resource_name,
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": disk_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            update_default_version=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _karpenter(
        self,
        name: str,
        args: GpuClusterArgs,
        pool: KarpenterPool,
        cluster: aws.eks.Cluster,
        node_role: aws.iam.Role,
        oidc: aws.iam.OpenIdConnectProvider,
        issuer: pulumi.Output[str],
        queue: aws.sqs.Queue,
        on_cluster: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """Karpenter controller (IRSA, reading `queue`), its node access entry, and a GPU
        `EC2NodeClass` + `NodePool`."""
        child = pulumi.ResourceOptions(parent=self)
        namespace, service_account = "kube-system", "karpenter"
        controller_role = aws.iam.Role(
            f"{name}-karpenter-role",
            assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(
                lambda values: irsa_trust_policy(values[0], values[1], namespace, service_account)
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-karpenter-policy",
            role=controller_role.id,
            policy=pulumi.Output.all(cluster.arn, node_role.arn, queue.arn).apply(
                lambda values: _karpenter_controller_policy(values[0], values[1], values[2], args.region)
            ),
            opts=child,
        )
        aws.eks.AccessEntry(
            f"{name}-karpenter-nodes",
            cluster_name=cluster.name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            opts=child,
        )
        labels = platform_labels(
            environment=args.environment, data_class=args.settings.data_class, component="karpenter"
        )
        controller = helm_release(
            f"{name}-karpenter",
            "karpenter",
            namespace=namespace,
            values={
                "settings": {"clusterName": cluster.name, "interruptionQueue": queue.name},
                "serviceAccount": {
                    "name": service_account,
                    "annotations": {"eks.amazonaws.com/role-arn": controller_role.arn},
                },
                "replicas": 2,
                "nodeSelector": {label("pool"): "system"},
                "controller": {
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
                },
                "additionalLabels": labels,
            },
            opts=on_cluster,
        )
        after_controller = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[controller]))
        node_class = k8s.apiextensions.CustomResource(
            f"{name}-gpu-nodeclass",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata={"name": "gpu", "labels": labels},
            spec={
                "amiSelectorTerms": [{"alias": pool.ami_alias}],
                "role": node_role.name,
                "subnetSelectorTerms": pulumi.Output.from_input(args.private_subnet_ids).apply(
                    lambda ids: [{"id": subnet} for subnet in ids]
                ),
                "securityGroupSelectorTerms": [{"id": cluster.vpc_config.cluster_security_group_id}],
                "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
                "blockDeviceMappings": [
                    {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "200Gi", "volumeType": "gp3", "encrypted": True}}
                ],
            },
            opts=after_controller,
        )
        node_pool = k8s.apiextensions.CustomResource(
            f"{name}-gpu-nodepool",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata={"name": "gpu", "labels": labels},
            spec=karpenter_node_pool_spec(pool, labels),
            opts=pulumi.ResourceOptions.merge(after_controller, pulumi.ResourceOptions(depends_on=[node_class])),
        )
        return [controller, node_pool]

    def _interruption_queue(self, name: str, child: pulumi.ResourceOptions) -> aws.sqs.Queue:
        """The SQS queue EventBridge fills with the EC2 events that end a node (spot interruption
        warnings, rebalance recommendations, scheduled maintenance, state changes): Karpenter reads it
        to cordon and drain a node and start its replacement before the instance goes, instead of
        losing the node's pods without warning."""
        queue = aws.sqs.Queue(
            f"{name}-karpenter-interruptions",
            message_retention_seconds=300,  # an event older than the 2-minute spot warning is stale
            # EventBridge cannot write to a queue under a customer key without a key grant.
            sqs_managed_sse_enabled=True,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-karpenter-interruptions",
            queue_url=queue.url,
            policy=queue.arn.apply(interruption_queue_policy),
            opts=child,
        )
        for rule_name, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-karpenter-{rule_name}",
                description=f"EC2 events Karpenter handles ({rule_name}) into its interruption queue",
                event_pattern=json.dumps(pattern, sort_keys=True),
                opts=child,
            )
            aws.cloudwatch.EventTarget(f"{name}-karpenter-{rule_name}", rule=rule.name, arn=queue.arn, opts=child)
        return queue


def interruption_queue_policy(queue_arn: str) -> str:
    """Only EventBridge (and SQS itself) may send to the queue, and only over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventBridgeSends",
                    "Effect": "Allow",
                    "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                },
                {
                    "Sid": "DenyWithoutTls",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sqs:*",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        },
        sort_keys=True,
    )


def karpenter_node_pool_spec(pool: KarpenterPool, labels: Mapping[str, str]) -> dict[str, Any]:
    """The GPU `NodePool` spec: allowed families and capacity, the GPU taint, a hard ceiling."""
    return {
        "template": {
            "metadata": {"labels": {**labels, GPU_NODE_LABEL: "true", label("pool"): "karpenter-gpu"}},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
                "requirements": [
                    {
                        "key": "karpenter.k8s.aws/instance-family",
                        "operator": "In",
                        "values": list(pool.instance_families),
                    },
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
                    {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                ],
                "taints": [dict(GPU_TAINT)],
                "expireAfter": "720h",
            },
        },
        "limits": {"cpu": str(pool.cpu_limit), "nvidia.com/gpu": str(pool.gpu_limit)},
        "disruption": {
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "consolidateAfter": pool.consolidate_after,
            "budgets": [{"nodes": pool.disruption_budget}],
        },
    }


def _karpenter_controller_policy(cluster_arn: str, node_role_arn: str, queue_arn: str, region: str) -> str:
    """What the Karpenter controller needs: launch and end instances in-region, pass the node role,
    read its interruption queue."""
    in_region = {"StringEquals": {"aws:RequestedRegion": region}}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Provision",
                    "Effect": "Allow",
                    "Action": [
                        "ec2:CreateFleet",
                        "ec2:CreateLaunchTemplate",
                        "ec2:CreateTags",
                        "ec2:DeleteLaunchTemplate",
                        "ec2:RunInstances",
                        "ec2:TerminateInstances",
                        "ec2:Describe*",
                        "pricing:GetProducts",
                        "ssm:GetParameter",
                    ],
                    "Resource": "*",
                    "Condition": in_region,
                },
                {
                    # Karpenter creates one instance profile per EC2NodeClass; IAM is global (no region).
                    "Sid": "InstanceProfiles",
                    "Effect": "Allow",
                    "Action": [
                        "iam:GetInstanceProfile",
                        "iam:CreateInstanceProfile",
                        "iam:TagInstanceProfile",
                        "iam:AddRoleToInstanceProfile",
                        "iam:RemoveRoleFromInstanceProfile",
                        "iam:DeleteInstanceProfile",
                    ],
                    "Resource": "*",
                },
                {"Sid": "PassNodeRole", "Effect": "Allow", "Action": "iam:PassRole", "Resource": node_role_arn},
                {"Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": cluster_arn},
                {
                    "Sid": "InterruptionQueue",
                    "Effect": "Allow",
                    "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                    "Resource": queue_arn,
                },
            ],
        },
        sort_keys=True,
    )
