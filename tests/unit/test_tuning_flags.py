"""Recommendations name the controller's real flags: catalog flags and defaults, overridden by the target's args."""

from __future__ import annotations

from profkit.analyze.tuning import arg_value, resolve_tuning
from profkit.model import Target


def test_kcp_by_alias_uses_catalog_flags_and_defaults() -> None:
    t = resolve_tuning(Target("kcp", "deployment", {"alias": "kcp"}))
    assert (t.qps_flag, t.burst_flag, t.sync_flag) == ("--kube-api-qps", "--kube-api-burst", "--sync-period")
    assert (t.qps, t.burst, t.sync_period, t.concurrency) == (20, 30, 600, 10)
    assert t.concurrency_flag_for("kubeadmcontrolplane") == "--kubeadmcontrolplane-concurrency"
    assert t.sources["qps"] == "catalog default (kcp)" and t.known


def test_deployment_name_and_container_args_override_defaults() -> None:
    spec = {"deployment": "capi-controller-manager",
            "args": ["--kube-api-qps=100", "--kube-api-burst", "200", "--machine-concurrency=50", "--sync-period=15m"]}
    t = resolve_tuning(Target("capi-controller-manager", "deployment", spec))
    assert t.alias == "capi" and (t.qps, t.burst, t.sync_period) == (100, 200, 900)
    assert t.concurrency == 50 and t.sources["concurrency"] == "args --machine-concurrency"
    assert t.concurrency_flag_for("machine") == "--machine-concurrency"
    assert t.concurrency_flag_for("machineset") == "--machineset-concurrency"
    assert t.concurrency_flag_for("cluster") == "--cluster-concurrency"


def test_bmo_concurrency_flag() -> None:
    t = resolve_tuning(Target("baremetal-operator-controller-manager", "deployment", {}))
    assert t.alias == "bmo" and t.concurrency_flag_for("hostfirmwaresettings") == "--controller-concurrency"


def test_unknown_target_gets_generic_flags_marked_unknown() -> None:
    t = resolve_tuning(Target("my-operator", "endpoint", {"url": "http://127.0.0.1:8080"}))
    assert not t.known and t.qps == 20 and t.sources["qps"] == "controller-runtime default"
    assert t.concurrency is None


def test_arg_value_forms() -> None:
    args = ["--a=1", "--b", "2", "--a=3"]
    assert arg_value(args, "--a") == "3" and arg_value(args, "--b") == "2" and arg_value(args, "--c") is None
