"""The capture hook: ``--deployment`` values -> plan factories the capture session runs like its other targets."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Sequence

from profkit.catalog import CollectorSpec, load_collector_file
from profkit.kube.client import KubeAccess, check_reachable, load
from profkit.kube.deployment import PodFollower, ResolvedDeployment, resolve_deployment
from profkit.kube.usage import FALLBACK_SOURCE, SOURCE, PodUsageCollector, metrics_api_served
from profkit.kube.watch import ObjectWatchCollector, resolve_watch
from profkit.model import Target
from profkit.sources.base import CaptureOptions, Collector, Sink, TargetPlan
from profkit.sources.plan import PlanFactory


def _plan(access: KubeAccess, deployment: ResolvedDeployment, usage_served: bool, sink: Sink,
          options: CaptureOptions) -> TargetPlan:
    """The collectors of one Deployment: the pod follower (which starts per-pod collectors), watches, usage."""
    access.health.emit = sink.add_event
    access.health.target = access.health.target or deployment.target
    spec = deployment.target_spec()
    spec["usage_source"] = SOURCE if usage_served else FALLBACK_SOURCE
    target = Target(deployment.target, "deployment", spec)
    follower = PodFollower(sink, options, access, deployment, target)
    collectors: list[Collector] = [follower]
    for resource in deployment.resources:
        if resource not in deployment.watched:
            collectors.append(ObjectWatchCollector(sink, deployment.target, options, access, resource,
                                                   fallback_namespace=deployment.namespace))
    for resource in deployment.watched:
        collectors.append(ObjectWatchCollector(sink, deployment.target, options, access, resource,
                                               namespace=deployment.namespace))
    if usage_served:
        collectors.append(PodUsageCollector(sink, deployment.target, options, access, deployment.namespace,
                                            deployment.selector, deployment.container))
    return TargetPlan(target, collectors)


def deployment_targets(deployments: Sequence[str], namespace: str | None = None, context: str | None = None,
                       kubeconfig: str | None = None, collector_files: Sequence[str | Path] = (),
                       token_file: str | None = None, watch: Sequence[str] = ()) -> list[PlanFactory]:
    """Check every Deployment now (one-line BadInput, exit 2, before a bundle exists); return plan factories."""
    if not deployments:
        return []
    extra: list[CollectorSpec] = [load_collector_file(Path(p)) for p in collector_files]
    access = load(kubeconfig, context)
    check_reachable(access)
    resolved = [resolve_deployment(access, name, namespace, extra, token_file) for name in deployments]
    watched = tuple(dict.fromkeys(resolve_watch(access, given) for given in watch))
    for deployment in resolved:  # --watch: these resources too, in each Deployment's own namespace
        deployment.watched = watched
        deployment.resources = tuple(dict.fromkeys((*deployment.resources, *watched)))
    names = [d.target for d in resolved]
    for deployment in resolved:  # the same controller in two namespaces: two targets, not one merged
        if names.count(deployment.target) > 1:
            deployment.target = f"{deployment.namespace}/{deployment.target}"
    usage_served = metrics_api_served(access)
    for deployment in resolved:
        sys.stderr.write(f"profkit: {deployment.plan_text()}\n")
    return [functools.partial(_plan, access, deployment, usage_served) for deployment in resolved]
