//! tokio_bench: the seeds' benchmarks (bench/run.sh) on Tokio, with the same
//! parameters and output as bench/savina/savina.c:
//!
//!   tokio_bench <bench> [--scale S] [--seconds S] [--threads N]
//!
//!   RESULT <bench> <size> <ms>     METRIC <bench> <name> <value>
//!
//! benches: pingpong, skynet, spawn, spawnmsg, cancel, mem (see savina.c).
//! The multi-thread runtime with its defaults (one worker per core; --threads
//! sets worker_threads). Each benchmark body runs as a task on the runtime, so
//! its spawns go to a worker's local queue as in any Tokio server, not through
//! the injection queue of the block_on thread. Every result is checked before
//! the runtime is dropped, with a check that a lost or duplicated message or
//! task changes; a wrong result prints CHECK FAILED and exits 1.
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Notify};
use tokio_util::sync::CancellationToken;

static FAILED: AtomicBool = AtomicBool::new(false);

fn check(bench: &str, what: &str, got: u64, want: u64) {
    if got != want {
        println!("CHECK FAILED {bench}: {what} = {got}, expected {want}");
        FAILED.store(true, Relaxed);
    }
}

fn result(bench: &str, size: u64, ms: f64) {
    println!("RESULT {bench} {size} {ms:.3}");
}

fn metric(bench: &str, name: &str, v: f64) {
    println!("METRIC {bench} {name} {v:.3}");
}

fn ms_since(t0: Instant) -> f64 {
    t0.elapsed().as_secs_f64() * 1e3
}

fn scaled(base: u64, scale: f64) -> u64 {
    let v = base as f64 * scale + 0.5;
    if v < 1.0 {
        1
    } else {
        v as u64
    }
}

/// Resident memory now (VmRSS), in bytes.
fn rss_bytes() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    pages * 4096.0
}

/// Peak resident memory (VmHWM, as getrusage's ru_maxrss), in MB.
fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A count bumped by every task of a 1M-task benchmark on every worker: one
/// cache line per thread (as Troupe's and CAF's counts are), so it does not
/// bounce a line between the cores on every start and end.
#[repr(align(64))]
#[derive(Default)]
struct Shard(AtomicU64);

#[derive(Default)]
struct Sharded {
    shards: [Shard; 16],
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static MY_SHARD: usize = NEXT_SHARD.fetch_add(1, Relaxed) % 16;
}

impl Sharded {
    fn add(&self) {
        MY_SHARD.with(|i| self.shards[*i].0.fetch_add(1, Relaxed));
    }
    fn sum(&self) -> u64 {
        self.shards.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

// ---- pingpong ----

/// Two tasks, each with its own channel as its inbox. The pinger sends n,
/// n-1, ..., 1; the ponger sums what it gets and echoes it; the pinger counts
/// echoes that are not the value it sent last.
async fn pingpong(scale: f64) {
    let n = scaled(40000, scale);
    let t0 = Instant::now();
    let (ping_tx, mut ping_rx) = mpsc::channel::<u64>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<u64>(1);
    let ponger = tokio::spawn(async move {
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(v) = ping_rx.recv().await {
            count += 1;
            sum += v;
            if pong_tx.send(v).await.is_err() {
                break;
            }
        }
        (count, sum)
    });
    let pinger = tokio::spawn(async move {
        let mut bad = 0u64;
        let mut left = n;
        ping_tx.send(left).await.unwrap();
        while let Some(v) = pong_rx.recv().await {
            if v != left {
                bad += 1;
            }
            left -= 1;
            if left == 0 {
                break;
            }
            ping_tx.send(left).await.unwrap();
        }
        bad // dropping ping_tx ends the ponger
    });
    let bad = pinger.await.unwrap();
    let ms = ms_since(t0);
    let (count, sum) = ponger.await.unwrap();
    check("pingpong", "pings", count, n);
    check("pingpong", "sum of ping values", sum, n * (n + 1) / 2);
    check("pingpong", "echoes not matching the ping", bad, 0);
    result("pingpong", n, ms);
    metric("pingpong", "msgs_per_s", 2.0 * n as f64 / (ms / 1e3));
}

// ---- skynet ----

static SKY_TASKS: AtomicU64 = AtomicU64::new(0);

/// One task per node; a node spawns its 10 children and sums their
/// JoinHandles' results.
fn skynet_node(num: u64, size: u64) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        SKY_TASKS.fetch_add(1, Relaxed);
        if size == 1 {
            return num;
        }
        let sub = size / 10;
        let children: Vec<_> = (0..10).map(|i| skynet_node(num + i * sub, sub)).collect();
        let mut sum = 0;
        for c in children {
            sum += c.await.unwrap();
        }
        sum
    })
}

async fn skynet(scale: f64) {
    let levels = (6.0 + scale.log10()).round().max(1.0) as u32;
    let leaves = 10u64.pow(levels);
    let tasks: u64 = (0..=levels).map(|l| 10u64.pow(l)).sum();
    let t0 = Instant::now();
    let sum = skynet_node(0, leaves).await.unwrap();
    let ms = ms_since(t0);
    println!("skynet sum {sum}");
    check("skynet", "sum", sum, leaves * (leaves - 1) / 2);
    check("skynet", "actors", SKY_TASKS.load(Relaxed), tasks);
    result("skynet", leaves, ms);
    metric("skynet", "actors", tasks as f64);
}

// ---- spawn + complete ----

/// The seeds' 1M-task benchmark: spawn, run (each task returns its index),
/// complete (awaited through its JoinHandle, results summed).
async fn spawn(scale: f64) {
    let n = scaled(1000000, scale);
    let rss0 = peak_rss_mb();
    let t0 = Instant::now();
    let mut handles = Vec::with_capacity(n as usize);
    for i in 0..n {
        handles.push(tokio::spawn(async move { i }));
    }
    let (mut count, mut sum) = (0u64, 0u64);
    for h in handles {
        sum += h.await.unwrap();
        count += 1;
    }
    let ms = ms_since(t0);
    let rss1 = peak_rss_mb();
    check("spawn", "tasks completed", count, n);
    check("spawn", "sum of the tasks' indices", sum, n * (n - 1) / 2);
    result("spawn", n, ms);
    metric("spawn", "ns_per_actor", ms * 1e6 / n as f64);
    metric("spawn", "peak_rss_mb", rss1);
    metric("spawn", "bytes_per_actor", (rss1 - rss0) * 1048576.0 / n as f64);
}

// ---- spawn, one message each, reply ----

/// The driver spawns each task with a oneshot as its inbox, sends it its
/// index, and each task replies on the driver's channel; the driver sums.
async fn spawnmsg(scale: f64) {
    let n = scaled(1000000, scale);
    let rss0 = peak_rss_mb();
    let t0 = Instant::now();
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<u64>();
    for i in 0..n {
        let (tx, rx) = oneshot::channel::<u64>();
        let reply = reply_tx.clone();
        tokio::spawn(async move {
            let v = rx.await.unwrap();
            let _ = reply.send(v);
        });
        tx.send(i).unwrap();
    }
    drop(reply_tx);
    let (mut replies, mut sum) = (0u64, 0u64);
    while replies < n {
        match reply_rx.recv().await {
            Some(v) => {
                sum += v;
                replies += 1;
            }
            None => break,
        }
    }
    let ms = ms_since(t0);
    let rss1 = peak_rss_mb();
    check("spawnmsg", "replies", replies, n);
    check("spawnmsg", "sum of the replies", sum, n * (n - 1) / 2);
    result("spawnmsg", n, ms);
    metric("spawnmsg", "ns_per_actor", ms * 1e6 / n as f64);
    metric("spawnmsg", "peak_rss_mb", rss1);
    metric("spawnmsg", "bytes_per_actor", (rss1 - rss0) * 1048576.0 / n as f64);
}

// ---- cancel a tree ----

struct Tree {
    started: Sharded,
    ended: Sharded,
}

/// A node of the tree: a task with a child token of its parent's (the seed's
/// CancellationToken tree); it spawns its children, then waits to be
/// cancelled. The counts live in a leaked `&'static Tree`, so no task touches
/// a shared reference count.
fn tree_node(token: CancellationToken, depth: u32, width: u32, tree: &'static Tree) {
    tokio::spawn(async move {
        tree.started.add();
        if depth > 0 {
            for _ in 0..width {
                tree_node(token.child_token(), depth - 1, width, tree);
            }
        }
        token.cancelled().await;
        tree.ended.add();
    });
}

/// Waits until `count()` reaches `want`, polling every 100 us from a blocking
/// thread (as the Troupe and CAF programs' main threads poll): Tokio's timer
/// has a 1 ms resolution.
async fn wait_until(count: impl Fn() -> u64 + Send + 'static, want: u64) {
    tokio::task::spawn_blocking(move || {
        while count() < want {
            std::thread::sleep(Duration::from_micros(100));
        }
    })
    .await
    .unwrap();
}

async fn cancel(scale: f64) {
    let w = ((100.0 * scale.cbrt()).round() as u32).max(2);
    let w64 = w as u64;
    let expected = 1 + w64 + w64 * w64 + w64 * w64 * w64;
    let tree: &'static Tree =
        Box::leak(Box::new(Tree { started: Sharded::default(), ended: Sharded::default() }));
    let rss0 = peak_rss_mb();
    let b0 = Instant::now();
    let root = CancellationToken::new();
    tree_node(root.clone(), 3, w, tree);
    wait_until(move || tree.started.sum(), expected).await;
    let build_ms = ms_since(b0);
    let rss1 = peak_rss_mb();
    check("cancel", "actors started", tree.started.sum(), expected);
    check("cancel", "actors ended before the cancel", tree.ended.sum(), 0);
    let t0 = Instant::now();
    root.cancel();
    wait_until(move || tree.ended.sum(), expected).await;
    let ms = ms_since(t0);
    check("cancel", "actors ended by the cancel", tree.ended.sum(), expected);
    result("cancel", expected, ms);
    metric("cancel", "ns_per_actor", ms * 1e6 / expected as f64);
    metric("cancel", "build_ms", build_ms);
    metric("cancel", "bytes_per_actor", (rss1 - rss0) * 1048576.0 / expected as f64);
}

// ---- memory per idle task ----

/// N idle tasks alive at once, each started (it counted itself) and waiting
/// on a clone of one CancellationToken; then all are cancelled.
async fn mem(scale: f64) {
    let n = scaled(1000000, scale);
    let started = Arc::new(Sharded::default());
    let ended = Arc::new(AtomicU64::new(0));
    let all_ended = Arc::new(Notify::new());
    let token = CancellationToken::new();
    let rss0 = rss_bytes();
    let t0 = Instant::now();
    for _ in 0..n {
        let (token, started, ended, all_ended) =
            (token.clone(), started.clone(), ended.clone(), all_ended.clone());
        tokio::spawn(async move {
            started.add();
            token.cancelled().await;
            if ended.fetch_add(1, Relaxed) + 1 == n {
                all_ended.notify_one();
            }
        });
    }
    while started.sum() < n {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let ms = ms_since(t0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rss1 = rss_bytes();
    check("mem", "tasks started", started.sum(), n);
    check("mem", "tasks ended while idle", ended.load(Relaxed), 0);
    token.cancel();
    all_ended.notified().await;
    check("mem", "tasks ended by the cancel", ended.load(Relaxed), n);
    result("mem", n, ms);
    metric("mem", "bytes_per_actor", (rss1 - rss0) / n as f64);
    metric("mem", "rss_mb", rss1 / 1048576.0);
    metric("mem", "peak_rss_mb", peak_rss_mb());
}

fn usage() -> ! {
    eprintln!(
        "usage: tokio_bench <pingpong|skynet|spawn|spawnmsg|cancel|mem> \
         [--scale S] [--seconds S] [--threads N]"
    );
    std::process::exit(2);
}

fn on_runtime<F: Future<Output = ()> + Send + 'static>(rt: &tokio::runtime::Runtime, f: F) {
    rt.block_on(async move { tokio::spawn(f).await.unwrap() });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        usage();
    }
    let (mut scale, mut threads) = (1.0f64, 0usize);
    let mut i = 2;
    while i < args.len() {
        let v = args.get(i + 1).unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--scale" => scale = v.parse().unwrap_or_else(|_| usage()),
            "--seconds" => {}
            "--threads" => threads = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
        i += 2;
    }
    if !(scale > 0.0) {
        usage();
    }
    let bench = args[1].clone();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if threads > 0 {
        builder.worker_threads(threads);
    } else {
        threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    }
    let rt = builder.build().expect("runtime");
    metric(&bench, "threads", threads as f64);
    match bench.as_str() {
        "pingpong" => on_runtime(&rt, pingpong(scale)),
        "skynet" => on_runtime(&rt, skynet(scale)),
        "spawn" => on_runtime(&rt, spawn(scale)),
        "spawnmsg" => on_runtime(&rt, spawnmsg(scale)),
        "cancel" => on_runtime(&rt, cancel(scale)),
        "mem" => on_runtime(&rt, mem(scale)),
        _ => usage(),
    }
    drop(rt);
    std::process::exit(if FAILED.load(Relaxed) { 1 } else { 0 });
}
