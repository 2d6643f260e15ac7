// Command manystacks burns CPU through many distinct, deep call stacks and writes a real Go CPU
// profile, so that profkit's pprof decoder can be benchmarked on a large profile (>= 5 MB).
//
// The call graph lives in funcs_gen.go, written by benchmarks/make_large_pprof.py: NFUNCS
// functions, each calling one of four others chosen by a pseudo-random walk, so nearly every
// sample has a stack of its own.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"
)

var sink uint64

// mix is small enough to be inlined into burn, so profiles carry inlined frames too.
func mix(x uint64) uint64 {
	x ^= x >> 31
	x *= 0x7fb5d329728ea185
	return x ^ (x >> 27)
}

//go:noinline
func burn(r uint64) uint64 {
	for i := 0; i < 200; i++ {
		r = mix(r + uint64(i))
	}
	return r
}

func main() {
	out := flag.String("o", "cpu.pb.gz", "profile to write")
	seconds := flag.Float64("seconds", 10, "how long to profile")
	hz := flag.Int("hz", 1000, "CPU profile rate")
	workers := flag.Int("workers", 2, "goroutines burning CPU")
	seed := flag.Uint64("seed", 1, "walk seed")
	flag.Parse()

	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runtime.SetCPUProfileRate(*hz) // before StartCPUProfile, which then warns and keeps this rate
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Duration(*seconds * float64(time.Second)))
	var wg sync.WaitGroup
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(r uint64) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				r = r*6364136223846793005 + 1442695040888963407
				depth := 40 + int(r>>58) // 40..103 frames; CPU profiles keep the innermost 64
				sink += walk(depth, r)
			}
		}(*seed*1000003 + uint64(w))
	}
	wg.Wait()
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
