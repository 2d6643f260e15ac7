package main

// Mixed work (--mixed): each unit of work runs one of several ordinary
// workloads of a controller-like program through real standard-library code
// (encoding/json, compress/gzip, regexp, sort, crypto/sha256) and a recursive
// walk over a random JSON-like document, so that CPU profiles have many
// distinct, deep stacks. benchmarks/gen_large_pprof.sh uses it to record a
// large real profile.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
)

type docKind int

const (
	kindObject docKind = iota
	kindArray
	kindString
	kindNumber
)

type docNode struct {
	kind     docKind
	key      string
	text     string
	number   float64
	children []*docNode
}

var selectorPattern = regexp.MustCompile(`^(app|tier|cluster\.x-k8s\.io/[a-z-]+)=([a-z0-9]([-a-z0-9]*[a-z0-9])?)$`)

// randomDocument builds a random document of up to maxDepth levels.
func randomDocument(rng *rand.Rand, depth, maxDepth int) *docNode {
	if depth >= maxDepth {
		if rng.IntN(2) == 0 {
			return &docNode{kind: kindString, text: fmt.Sprintf("value-%d", rng.IntN(1000))}
		}
		return &docNode{kind: kindNumber, number: rng.Float64() * 1000}
	}
	switch k := docKind(rng.IntN(4)); k {
	case kindObject, kindArray:
		n := &docNode{kind: k}
		for i, c := 0, 1+rng.IntN(3); i < c; i++ {
			child := randomDocument(rng, depth+1, maxDepth)
			child.key = fmt.Sprintf("field%d", rng.IntN(50))
			n.children = append(n.children, child)
		}
		return n
	case kindString:
		return &docNode{kind: kindString, text: strings.Repeat("x", 1+rng.IntN(64))}
	default:
		return &docNode{kind: kindNumber, number: rng.NormFloat64()}
	}
}

// visitNode dispatches to the visitor of the node's kind: the mutual recursion
// makes the stack of each sample depend on the path through the document.
//
//go:noinline
func visitNode(n *docNode, acc uint64) uint64 {
	switch n.kind {
	case kindObject:
		return visitObject(n, acc)
	case kindArray:
		return visitArray(n, acc)
	case kindString:
		return visitString(n, acc)
	default:
		return visitNumber(n, acc)
	}
}

//go:noinline
func visitObject(n *docNode, acc uint64) uint64 {
	for _, c := range n.children {
		acc = visitNode(c, acc*31+uint64(len(c.key)))
	}
	return acc
}

//go:noinline
func visitArray(n *docNode, acc uint64) uint64 {
	for i := len(n.children) - 1; i >= 0; i-- {
		acc = visitNode(n.children[i], acc^uint64(i))
	}
	return acc
}

//go:noinline
func visitString(n *docNode, acc uint64) uint64 {
	sum := sha256.Sum256([]byte(n.text))
	for i := 0; i < 64; i++ {
		sum = sha256.Sum256(sum[:])
	}
	return acc + uint64(sum[0])
}

//go:noinline
func visitNumber(n *docNode, acc uint64) uint64 {
	x := acc ^ uint64(n.number*1e6)
	for i := 0; i < 2000; i++ {
		x ^= x >> 31
		x *= 0x7fb5d329728ea185
		x ^= x >> 27
	}
	return x
}

// toJSONValue converts the document to plain maps and slices for encoding/json.
func toJSONValue(n *docNode) any {
	switch n.kind {
	case kindObject:
		m := make(map[string]any, len(n.children))
		for _, c := range n.children {
			m[c.key] = toJSONValue(c)
		}
		return m
	case kindArray:
		s := make([]any, 0, len(n.children))
		for _, c := range n.children {
			s = append(s, toJSONValue(c))
		}
		return s
	case kindString:
		return n.text
	default:
		return n.number
	}
}

// mixedWork runs one of the workloads, chosen by the worker's random source.
//
//go:noinline
func (w *Worker) mixedWork(item int) error {
	switch w.rng.IntN(6) {
	case 0:
		w.hashPayload(item)
	case 1:
		return w.renderStatus(item)
	case 2:
		return w.compressManifest(item)
	case 3:
		w.matchSelectors(item)
	case 4:
		w.sortInventory(item)
	default:
		return w.walkDocument(item)
	}
	return nil
}

// walkDocument walks a random document and round-trips it through encoding/json.
//
//go:noinline
func (w *Worker) walkDocument(item int) error {
	doc := randomDocument(w.rng, 0, 4+w.rng.IntN(14))
	acc := visitNode(doc, uint64(item))
	raw, err := json.Marshal(toJSONValue(doc))
	if err != nil {
		return err
	}
	var back any
	if err := json.Unmarshal(raw, &back); err != nil {
		return err
	}
	w.sink[0] ^= byte(acc)
	return nil
}

// compressManifest gzips a generated manifest.
//
//go:noinline
func (w *Worker) compressManifest(item int) error {
	var src strings.Builder
	for i := 0; i < 200+w.rng.IntN(400); i++ {
		fmt.Fprintf(&src, "- name: widget-%05d\n  size: %d\n  labels: {app: demo, tier: t%d}\n", item+i, w.rng.IntN(10), i%7)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, 1+w.rng.IntN(9))
	if err != nil {
		return err
	}
	if _, err := zw.Write([]byte(src.String())); err != nil {
		return err
	}
	return zw.Close()
}

// matchSelectors matches label selector strings with a regular expression.
//
//go:noinline
func (w *Worker) matchSelectors(item int) {
	matched := 0
	for i := 0; i < 300; i++ {
		s := fmt.Sprintf("cluster.x-k8s.io/%s=c-%d", []string{"cluster-name", "control-plane", "deployment-name"}[i%3], item+i)
		if selectorPattern.MatchString(s) {
			matched++
		}
	}
	w.sink[1] ^= byte(matched)
}

type inventoryEntry struct {
	name     string
	priority int
	weight   float64
}

// sortInventory sorts a random inventory by several keys.
//
//go:noinline
func (w *Worker) sortInventory(item int) {
	entries := make([]inventoryEntry, 2000+w.rng.IntN(2000))
	for i := range entries {
		entries[i] = inventoryEntry{name: fmt.Sprintf("host-%d", w.rng.IntN(1_000_000)), priority: w.rng.IntN(5), weight: w.rng.Float64()}
	}
	sort.Slice(entries, func(a, b int) bool {
		if entries[a].priority != entries[b].priority {
			return entries[a].priority < entries[b].priority
		}
		return entries[a].name < entries[b].name
	})
	w.sink[2] ^= byte(item + len(entries[0].name))
}
