// go_bench: the seeds' benchmarks (bench/run.sh) with goroutines and
// channels, with the same parameters and output as bench/savina/savina.c:
//
//	go_bench <bench> [--scale S] [--seconds S]
//
//	RESULT <bench> <size> <ms>     METRIC <bench> <name> <value>
//
// benches: pingpong, skynet, spawn, spawnmsg, cancel, mem (see savina.c).
// The Go runtime's defaults (GOMAXPROCS = cores; set GOMAXPROCS to change
// it). Every result is checked with a check that a lost or duplicated
// message or goroutine changes; a wrong result prints CHECK FAILED and exits 1.
package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var failed bool

func check(bench, what string, got, want uint64) {
	if got != want {
		fmt.Printf("CHECK FAILED %s: %s = %d, expected %d\n", bench, what, got, want)
		failed = true
	}
}

func result(bench string, size uint64, ms float64) {
	fmt.Printf("RESULT %s %d %.3f\n", bench, size, ms)
}

func metric(bench, name string, v float64) {
	fmt.Printf("METRIC %s %s %.3f\n", bench, name, v)
}

func msSince(t0 time.Time) float64 { return float64(time.Since(t0).Nanoseconds()) / 1e6 }

func scaled(base uint64, scale float64) uint64 {
	v := float64(base)*scale + 0.5
	if v < 1 {
		return 1
	}
	return uint64(v)
}

// rssBytes is the resident memory now (VmRSS).
func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}

// peakRSSMB is the peak resident memory (VmHWM, as getrusage's ru_maxrss).
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// ---- pingpong ----

// Two goroutines, each with its own unbuffered channel as its inbox. The
// pinger sends n, n-1, ..., 1; the ponger sums what it gets and echoes it; the
// pinger counts echoes that are not the value it sent last.
func pingpong(scale float64) {
	n := scaled(40000, scale)
	t0 := time.Now()
	ping, pong := make(chan uint64), make(chan uint64)
	type tally struct{ count, sum uint64 }
	ponged := make(chan tally)
	go func() {
		var t tally
		for v := range ping {
			t.count++
			t.sum += v
			pong <- v
		}
		ponged <- t
	}()
	var bad uint64
	for left := n; left > 0; left-- {
		ping <- left
		if v := <-pong; v != left {
			bad++
		}
	}
	ms := msSince(t0)
	close(ping)
	t := <-ponged
	check("pingpong", "pings", t.count, n)
	check("pingpong", "sum of ping values", t.sum, n*(n+1)/2)
	check("pingpong", "echoes not matching the ping", bad, 0)
	result("pingpong", n, ms)
	metric("pingpong", "msgs_per_s", 2*float64(n)/(ms/1e3))
}

// ---- skynet ----

var skyGoroutines atomic.Uint64

// skynet is the classic Go SkyNet: each goroutine starts its 10 children
// and sums what they send on its channel (buffered, so a child never waits).
func skynet(c chan<- uint64, num, size uint64) {
	skyGoroutines.Add(1)
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64, 10)
	sub := size / 10
	for i := uint64(0); i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func benchSkynet(scale float64) {
	levels := int(math.Max(1, math.Round(6+math.Log10(scale))))
	leaves, total := uint64(1), uint64(0)
	for i := 0; i < levels; i++ {
		total += leaves
		leaves *= 10
	}
	total += leaves
	t0 := time.Now()
	c := make(chan uint64, 1)
	go skynet(c, 0, leaves)
	sum := <-c
	ms := msSince(t0)
	fmt.Printf("skynet sum %d\n", sum)
	check("skynet", "sum", sum, leaves*(leaves-1)/2)
	check("skynet", "actors", skyGoroutines.Load(), total)
	result("skynet", leaves, ms)
	metric("skynet", "actors", float64(total))
}

// ---- spawn + complete ----

// The seeds' 1M-task benchmark: start N goroutines; each runs (adds its index
// to a sum) and ends; a WaitGroup says when all have.
func spawn(scale float64) {
	n := scaled(1000000, scale)
	var wg sync.WaitGroup
	var sum, count atomic.Uint64
	rss0 := peakRSSMB()
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func(i uint64) {
			sum.Add(i)
			count.Add(1)
			wg.Done()
		}(i)
	}
	wg.Wait()
	ms := msSince(t0)
	rss1 := peakRSSMB()
	check("spawn", "goroutines run", count.Load(), n)
	check("spawn", "sum of the goroutines' indices", sum.Load(), n*(n-1)/2)
	result("spawn", n, ms)
	metric("spawn", "ns_per_actor", ms*1e6/float64(n))
	metric("spawn", "peak_rss_mb", rss1)
	metric("spawn", "bytes_per_actor", (rss1-rss0)*1048576/float64(n))
}

// ---- spawn, one message each, reply ----

// The driver starts each goroutine with its own one-slot channel as its
// inbox, sends it its index; each replies on the driver's channel and ends; a
// collector goroutine sums the replies.
func spawnmsg(scale float64) {
	n := scaled(1000000, scale)
	rss0 := peakRSSMB()
	t0 := time.Now()
	replies := make(chan uint64, 1024)
	type tally struct{ count, sum uint64 }
	collected := make(chan tally)
	go func() {
		var t tally
		for t.count < n {
			t.sum += <-replies
			t.count++
		}
		collected <- t
	}()
	for i := uint64(0); i < n; i++ {
		inbox := make(chan uint64, 1)
		go func() { replies <- <-inbox }()
		inbox <- i
	}
	t := <-collected
	ms := msSince(t0)
	rss1 := peakRSSMB()
	check("spawnmsg", "replies", t.count, n)
	check("spawnmsg", "sum of the replies", t.sum, n*(n-1)/2)
	result("spawnmsg", n, ms)
	metric("spawnmsg", "ns_per_actor", ms*1e6/float64(n))
	metric("spawnmsg", "peak_rss_mb", rss1)
	metric("spawnmsg", "bytes_per_actor", (rss1-rss0)*1048576/float64(n))
}

// ---- cancel a tree ----

// node is one goroutine of the tree, with its own context derived from its
// parent's (context.WithCancel: the idiomatic cancellation tree); it starts
// its children, then waits for its context to be cancelled.
func node(ctx context.Context, depth, width int, started, ended *atomic.Uint64, wg *sync.WaitGroup) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started.Add(1)
	if depth > 0 {
		wg.Add(width)
		for i := 0; i < width; i++ {
			go node(ctx, depth-1, width, started, ended, wg)
		}
	}
	<-ctx.Done()
	ended.Add(1)
	wg.Done()
}

func benchCancel(scale float64) {
	w := int(math.Max(2, math.Round(100*math.Cbrt(scale))))
	w64 := uint64(w)
	expected := 1 + w64 + w64*w64 + w64*w64*w64
	var started, ended atomic.Uint64
	var wg sync.WaitGroup
	rss0 := peakRSSMB()
	b0 := time.Now()
	root, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go node(root, 3, w, &started, &ended, &wg)
	for started.Load() < expected {
		time.Sleep(100 * time.Microsecond)
	}
	buildMs := msSince(b0)
	rss1 := peakRSSMB()
	check("cancel", "actors started", started.Load(), expected)
	check("cancel", "actors ended before the cancel", ended.Load(), 0)
	t0 := time.Now()
	cancel()
	wg.Wait()
	ms := msSince(t0)
	check("cancel", "actors ended by the cancel", ended.Load(), expected)
	result("cancel", expected, ms)
	metric("cancel", "ns_per_actor", ms*1e6/float64(expected))
	metric("cancel", "build_ms", buildMs)
	metric("cancel", "bytes_per_actor", (rss1-rss0)*1048576/float64(expected))
}

// ---- memory per idle goroutine ----

// N idle goroutines alive at once, each started (it counted itself) and
// blocked on one shared channel, which is then closed.
func mem(scale float64) {
	n := scaled(1000000, scale)
	var started, ended atomic.Uint64
	var wg sync.WaitGroup
	done := make(chan struct{})
	rss0 := rssBytes()
	t0 := time.Now()
	wg.Add(int(n))
	for i := uint64(0); i < n; i++ {
		go func() {
			started.Add(1)
			<-done
			ended.Add(1)
			wg.Done()
		}()
	}
	for started.Load() < n {
		time.Sleep(time.Millisecond)
	}
	ms := msSince(t0)
	time.Sleep(100 * time.Millisecond)
	rss1 := rssBytes()
	check("mem", "goroutines started", started.Load(), n)
	check("mem", "goroutines ended while idle", ended.Load(), 0)
	close(done)
	wg.Wait()
	check("mem", "goroutines ended by the close", ended.Load(), n)
	result("mem", n, ms)
	metric("mem", "bytes_per_actor", (rss1-rss0)/float64(n))
	metric("mem", "rss_mb", rss1/1048576)
	metric("mem", "peak_rss_mb", peakRSSMB())
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go_bench <pingpong|skynet|spawn|spawnmsg|cancel|mem> [--scale S] [--seconds S]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	scale := 1.0
	for i := 2; i < len(os.Args); i += 2 {
		if i+1 >= len(os.Args) {
			usage()
		}
		switch os.Args[i] {
		case "--scale":
			v, err := strconv.ParseFloat(os.Args[i+1], 64)
			if err != nil || !(v > 0) {
				usage()
			}
			scale = v
		case "--seconds":
		default:
			usage()
		}
	}
	bench := os.Args[1]
	benches := map[string]func(float64){
		"pingpong": pingpong, "skynet": benchSkynet, "spawn": spawn,
		"spawnmsg": spawnmsg, "cancel": benchCancel, "mem": mem,
	}
	run, ok := benches[bench]
	if !ok {
		usage()
	}
	metric(bench, "threads", float64(runtime.GOMAXPROCS(0)))
	run(scale)
	if failed {
		os.Exit(1)
	}
}
