// Command go_expfmt parses Prometheus text exposition from stdin with prometheus/common's
// expfmt.TextParser (UTF-8 names allowed) and prints what it read as one JSON object:
// {"error": "...", "samples": [...], "help": {...}, "types": {...}}. The reference for
// profkit's parser in tests/integration/test_prometheus_reference.py.
package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type sample struct {
	Name        string            `json:"name"`
	Labels      map[string]string `json:"labels"`
	Value       string            `json:"value"`
	TimestampMs *int64            `json:"timestamp_ms"`
}

type result struct {
	Error   string            `json:"error"`
	Samples []sample          `json:"samples"`
	Help    map[string]string `json:"help"`
	Types   map[string]string `json:"types"`
}

func number(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func labelsOf(m *dto.Metric, extra ...string) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = lp.GetValue()
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		panic(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, perr := parser.TextToMetricFamilies(bytesReader(in))
	res := result{Samples: []sample{}, Help: map[string]string{}, Types: map[string]string{}}
	if perr != nil {
		res.Error = perr.Error()
	}
	names := make([]string, 0, len(families))
	for name := range families {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		mf := families[name]
		if mf.Help != nil {
			res.Help[name] = mf.GetHelp()
		}
		res.Types[name] = map[dto.MetricType]string{
			dto.MetricType_COUNTER: "counter", dto.MetricType_GAUGE: "gauge", dto.MetricType_SUMMARY: "summary",
			dto.MetricType_UNTYPED: "untyped", dto.MetricType_HISTOGRAM: "histogram",
		}[mf.GetType()]
		for _, m := range mf.GetMetric() {
			var ts *int64
			if m.TimestampMs != nil {
				v := m.GetTimestampMs()
				ts = &v
			}
			add := func(n string, labels map[string]string, v float64) {
				res.Samples = append(res.Samples, sample{n, labels, number(v), ts})
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, labelsOf(m), m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, labelsOf(m), m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, labelsOf(m), m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.GetQuantile() {
					add(name, labelsOf(m, "quantile", number(q.GetQuantile())), q.GetValue())
				}
				if s.SampleSum != nil {
					add(name+"_sum", labelsOf(m), s.GetSampleSum())
				}
				if s.SampleCount != nil {
					add(name+"_count", labelsOf(m), float64(s.GetSampleCount()))
				}
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					add(name+"_bucket", labelsOf(m, "le", number(b.GetUpperBound())), float64(b.GetCumulativeCount()))
				}
				if h.SampleSum != nil {
					add(name+"_sum", labelsOf(m), h.GetSampleSum())
				}
				if h.SampleCount != nil {
					add(name+"_count", labelsOf(m), float64(h.GetSampleCount()))
				}
			}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(res); err != nil {
		panic(err)
	}
}
