// Command go-controller is profkit's example controller-runtime manager: it
// reconciles Widgets (scale.profkit.dev/v1alpha1) and can reproduce the
// pathologies profkit diagnoses (per-reconcile key generation, requeue of
// deleted objects, client-side throttling, saturated workers, errors).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	scalev1 "profkit.dev/examples/go-controller/api/v1alpha1"
	"profkit.dev/examples/go-controller/internal/controller"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(scalev1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr, pprofAddr, probeAddr, namespace, leaderElectionNS, logFormat string
		keygen, apiCalls, burst, concurrency                                      int
		qps, errorRate                                                            float64
		requeueDeleted, leaderElect, priorityQueue                                bool
		syncPeriod, reconcileDelay                                                time.Duration
	)
	// --kubeconfig is registered on flag.CommandLine by controller-runtime's config package.
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address of the plain-HTTP /metrics endpoint (\"0\" disables it).")
	flag.StringVar(&pprofAddr, "pprof-bind-address", ":6060", "Address of the /debug/pprof endpoint (\"0\" or \"\" disables it).")
	flag.StringVar(&probeAddr, "health-probe-bind-address", "0", "Address of /healthz and /readyz (\"0\" disables them).")
	flag.StringVar(&namespace, "namespace", "", "Only watch Widgets in this namespace (empty: all namespaces).")
	flag.IntVar(&keygen, "keygen-per-reconcile", 0, "Generate N RSA 2048 private keys in every reconcile (KCP before its fix).")
	flag.BoolVar(&requeueDeleted, "requeue-deleted", false, "Requeue objects that are gone or being deleted, forever (BMO before its fix).")
	flag.Float64Var(&qps, "kube-api-qps", 20, "Client-side QPS limit of the API client (negative: no client-side limit).")
	flag.IntVar(&burst, "kube-api-burst", 30, "Client-side burst of the API client.")
	flag.IntVar(&concurrency, "concurrency", 10, "MaxConcurrentReconciles of the widget controller.")
	flag.DurationVar(&syncPeriod, "sync-period", 10*time.Minute, "Cache resync period: every object is reconciled at least this often.")
	flag.Float64Var(&errorRate, "error-rate", 0, "Fraction (0..1) of reconciles that return an error.")
	flag.DurationVar(&reconcileDelay, "reconcile-delay", 0, "Sleep this long in every reconcile (saturates workers).")
	flag.IntVar(&apiCalls, "api-calls-per-reconcile", 1, "Extra uncached GETs of the Widget per reconcile.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Enable leader election (only one replica reconciles).")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease (default: --namespace, else \"default\").")
	flag.BoolVar(&priorityQueue, "priority-queue", true, "Use controller-runtime's priority queue (its default since v0.23); false selects the classic workqueue.")

	flag.StringVar(&logFormat, "log-format", "json", "\"json\": controller-runtime's zap JSON logger (client-go's klog routed to it); \"text\": klog text, as Cluster API managers log by default.")

	zapOpts := zap.Options{Development: false, DestWriter: os.Stderr}
	zapOpts.BindFlags(flag.CommandLine)
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	flag.Var(klogFlags.Lookup("v").Value, "v", "klog verbosity of client-go's global logger (the zap level must allow it too, e.g. --zap-log-level=3).")
	flag.Usage = func() {
		out := flag.CommandLine.Output()
		fmt.Fprintf(out, "Usage: %s [flags]\n\nprofkit's example controller-runtime manager for Widgets (scale.profkit.dev/v1alpha1).\n\nExample:\n  %s --kubeconfig ~/.kube/config --namespace widgets --keygen-per-reconcile 4 --requeue-deleted\n\nFlags:\n", os.Args[0], os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()

	switch logFormat {
	case "json":
		logger := zap.New(zap.UseFlagOptions(&zapOpts))
		ctrl.SetLogger(logger)
		// client-go logs through klog; route it to the same JSON logger so that
		// "Waited before sending request ... client-side throttling" lines show.
		klog.SetLogger(logger.WithName("client-go"))
	case "text":
		// klog's own text format on stderr; verbosity is --v.
		ctrl.SetLogger(klog.Background())
	default:
		fmt.Fprintf(os.Stderr, "invalid --log-format %q: want json or text\n", logFormat)
		os.Exit(2)
	}
	setupLog := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		setupLog.Error(err, "unable to load a kubeconfig")
		os.Exit(1)
	}
	cfg.QPS = float32(qps)
	cfg.Burst = burst
	cfg.UserAgent = "profkit-go-controller"

	cacheOpts := cache.Options{SyncPeriod: &syncPeriod}
	if namespace != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	if pprofAddr == "" {
		pprofAddr = "0"
	}
	if leaderElectionNS == "" {
		leaderElectionNS = namespace
		if leaderElectionNS == "" {
			leaderElectionNS = "default"
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		PprofBindAddress:        pprofAddr,
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "widget-controller.scale.profkit.dev",
		LeaderElectionNamespace: leaderElectionNS,
	})
	if err != nil {
		setupLog.Error(err, "unable to create the manager")
		os.Exit(1)
	}

	reconciler := &controller.WidgetReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("widget-controller"),
		Options: controller.Options{
			KeygenPerReconcile:      keygen,
			RequeueDeleted:          requeueDeleted,
			ErrorRate:               errorRate,
			ReconcileDelay:          reconcileDelay,
			APICallsPerReconcile:    apiCalls,
			MaxConcurrentReconciles: concurrency,
			UsePriorityQueue:        priorityQueue,
		},
	}
	if err := reconciler.SetupWithManager(mgr); err != nil {
		setupLog.Error(err, "unable to create the widget controller")
		os.Exit(1)
	}
	if probeAddr != "0" && probeAddr != "" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			setupLog.Error(err, "unable to set up the health check")
			os.Exit(1)
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			setupLog.Error(err, "unable to set up the ready check")
			os.Exit(1)
		}
	}

	setupLog.Info("starting manager",
		"namespace", namespace, "metricsBindAddress", metricsAddr, "pprofBindAddress", pprofAddr,
		"kubeAPIQPS", qps, "kubeAPIBurst", burst, "concurrency", concurrency, "syncPeriod", syncPeriod.String(),
		"keygenPerReconcile", keygen, "requeueDeleted", requeueDeleted, "errorRate", errorRate,
		"reconcileDelay", reconcileDelay.String(), "apiCallsPerReconcile", apiCalls)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "problem running manager")
		os.Exit(1)
	}
}
