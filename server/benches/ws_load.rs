//! The WebSocket load tool: opens N `/ws` clients with valid guest tokens (signed here with the
//! nodes' secret, since a node mints only so many guests per address) and an allowed Origin,
//! optionally sends flicks, and reports the pipe's latency (receive time minus the frame's `t`)
//! as an HDR histogram, frames and bytes per second, failures, and the server's CPU and RSS.
//!
//! `cargo bench -p server --bench ws_load -- --clients 1000 --server-pid <pid>` against a
//! running release server; `scripts/load.sh` starts one with its own database and runs this.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use clap::Parser;
use hdrhistogram::Histogram;
use physics_worker::wire::{self, ClientFrame, ServerFrame};
use swiftcart::clock::now_ms;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};

#[derive(Parser, Debug)]
#[command(about = "Opens N SwiftCart WebSocket clients and measures the real-time pipe")]
struct Args {
    /// Server base URL; repeat to spread clients over several nodes (round robin).
    #[arg(long = "url", default_value = "http://127.0.0.1:3000")]
    urls: Vec<String>,
    /// Origin header to send (default: the first URL).
    #[arg(long)]
    origin: Option<String>,
    /// Number of clients.
    #[arg(long, default_value_t = 1_000)]
    clients: usize,
    /// Seconds to measure, after every client is connected and the warm-up is over.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Seconds between the last connection and the start of the measurement.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Handshakes in flight at once while connecting.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// Flicks per second sent in total, by clients picked in turn (0: none).
    #[arg(long, default_value_t = 0.0)]
    gestures_per_sec: f64,
    /// Server processes whose CPU and RSS to report (repeat for several nodes).
    #[arg(long = "server-pid")]
    server_pids: Vec<u32>,
    /// The nodes' `SWIFTCART_JWT_SECRET`, to sign the clients' guest tokens.
    #[arg(long, env = "SWIFTCART_JWT_SECRET", default_value = swiftcart::config::DEV_JWT_SECRET, hide_env_values = true)]
    jwt_secret: String,
    /// Cargo passes this to bench binaries; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Counters shared by every client.
#[derive(Default)]
struct Totals {
    frames: AtomicU64,
    bytes: AtomicU64,
    keyframes: AtomicU64,
    gaps: AtomicU64,
    connect_failures: AtomicU64,
    dropped: AtomicU64,
    acks: AtomicU64,
    /// `ev` frames: other clients' gestures forwarded at once.
    events: AtomicU64,
}

/// Latency histograms, sharded to keep lock contention negligible.
struct Shards {
    latency: Vec<Mutex<Histogram<u64>>>,
    ack: Mutex<Histogram<u64>>,
}

impl Shards {
    fn new(n: usize) -> Self {
        let h = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram bounds");
        Self { latency: (0..n).map(|_| Mutex::new(h())).collect(), ack: Mutex::new(h()) }
    }
}

/// The head of a server frame: kind, `t`, `n`, and for `s` frames the number of products.
struct Head {
    kind: String,
    t: f64,
    n: u64,
    products: u32,
}

/// Reads a server frame's head without decoding the bodies: the tool must stay cheap so that it
/// measures the server, not itself.
fn head(bytes: &[u8]) -> Option<Head> {
    let mut rd = bytes;
    let len = rmp::decode::read_map_len(&mut rd).ok()?;
    let mut head = Head { kind: String::new(), t: f64::NAN, n: 0, products: 0 };
    let mut buf = [0u8; 16];
    for _ in 0..len.min(4) {
        let key = rmp::decode::read_str(&mut rd, &mut buf).ok()?.to_string();
        match key.as_str() {
            "k" => head.kind = rmp::decode::read_str(&mut rd, &mut buf).ok()?.to_string(),
            "t" => head.t = rmp::decode::read_f64(&mut rd).ok()?,
            "n" => head.n = rmp::decode::read_int(&mut rd).ok()?,
            "s" => head.products = rmp::decode::read_array_len(&mut rd).ok()?,
            _ => break,
        }
    }
    Some(head)
}

struct Measure {
    on: std::sync::atomic::AtomicBool,
}

/// Opens `/ws` with a hand-written handshake on a plain TCP stream; returns the stream and any
/// bytes that arrived after the handshake. The tool reads frames itself (server frames are
/// unmasked and simple) so that it costs the machine as little as possible per frame.
async fn open_raw(url: &str, origin: &str, token: &str) -> anyhow::Result<(TcpStream, Vec<u8>)> {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host).await?;
    stream.set_nodelay(true)?;
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: swiftcart.v1, bearer.{token}\r\nOrigin: {origin}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if stream.read_buf(&mut buf).await? == 0 {
            anyhow::bail!("closed during the handshake");
        }
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            if !head.starts_with("HTTP/1.1 101") {
                anyhow::bail!("handshake refused: {}", head.lines().next().unwrap_or_default());
            }
            return Ok((stream, buf.split_off(end + 4)));
        }
    }
}

/// One complete server frame at the start of `buf`: (opcode, payload range, total length).
fn next_frame(buf: &[u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, start) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    (buf.len() >= start + len).then_some((b0 & 0x0f, start..start + len, start + len))
}

/// A masked binary frame, as a client must send it.
fn client_frame(payload: &[u8]) -> Vec<u8> {
    let mask: [u8; 4] = rand::random();
    let mut out = vec![0x82];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(k, b)| b ^ mask[k % 4]));
    out
}

#[allow(clippy::too_many_arguments)]
async fn client(
    index: usize,
    url: String,
    origin: String,
    token: String,
    totals: Arc<Totals>,
    shards: Arc<Shards>,
    measure: Arc<Measure>,
    mut flicks: mpsc::Receiver<u32>,
    connected: Arc<Semaphore>,
    gate: Arc<Semaphore>,
    catalog_size: Arc<AtomicU64>,
) {
    let permit = gate.acquire().await.expect("gate open");
    let (mut stream, mut buf) = match open_raw(&url, &origin, &token).await {
        Ok(opened) => opened,
        Err(e) => {
            if totals.connect_failures.fetch_add(1, Relaxed) < 3 {
                eprintln!("client {index}: connect failed: {e}");
            }
            connected.add_permits(1);
            return;
        }
    };
    drop(permit);
    connected.add_permits(1);
    let shard = &shards.latency[index % shards.latency.len()];
    let mut last_n: Option<u64> = None;
    let mut pending: Vec<(u32, f64)> = Vec::new();
    let mut seq = 0u32;
    buf.reserve(16 * 1024);
    loop {
        // Handle every complete frame in the buffer.
        let mut consumed = 0;
        while let Some((opcode, payload, total)) = next_frame(&buf[consumed..]) {
            let bytes = &buf[consumed..][payload];
            consumed += total;
            if opcode == 8 {
                totals.dropped.fetch_add(1, Relaxed);
                return;
            }
            if opcode != 2 {
                continue;
            }
            let received = now_ms();
            let Some(Head { kind, t, n, products }) = head(bytes) else { continue };
            match kind.as_str() {
                "s" => {
                    if let Some(last) = last_n {
                        if n > last + 1 && measure.on.load(Relaxed) {
                            totals.gaps.fetch_add(n - last - 1, Relaxed);
                        }
                    }
                    last_n = Some(n);
                    if measure.on.load(Relaxed) {
                        totals.frames.fetch_add(1, Relaxed);
                        totals.bytes.fetch_add(bytes.len() as u64, Relaxed);
                        if u64::from(products) == catalog_size.load(Relaxed) {
                            totals.keyframes.fetch_add(1, Relaxed);
                        }
                        let micros = ((received - t) * 1_000.0).max(1.0) as u64;
                        let _ = shard.lock().expect("shard").record(micros.min(120_000_000));
                    }
                }
                "sync" => {
                    last_n = Some(n);
                    if catalog_size.load(Relaxed) == 0 {
                        if let Ok(ServerFrame::Sync { catalog, .. }) = wire::decode(bytes) {
                            catalog_size.store(catalog.len() as u64, Relaxed);
                        }
                    }
                }
                "ev" if measure.on.load(Relaxed) => {
                    totals.events.fetch_add(1, Relaxed);
                }
                "ack" => {
                    if let Ok(ServerFrame::Ack { q, .. }) = wire::decode(bytes) {
                        if let Some(pos) = pending.iter().position(|(pq, _)| *pq == q) {
                            let (_, sent) = pending.swap_remove(pos);
                            totals.acks.fetch_add(1, Relaxed);
                            let latency = ((received - sent) * 1_000.0).max(1.0) as u64;
                            let _ = shards.ack.lock().expect("ack").record(latency);
                        }
                    }
                }
                _ => {}
            }
        }
        buf.drain(..consumed);
        tokio::select! {
            read = stream.read_buf(&mut buf) => {
                if !matches!(read, Ok(n) if n > 0) {
                    totals.dropped.fetch_add(1, Relaxed);
                    return;
                }
            }
            Some(product) = flicks.recv() => {
                seq += 1;
                let frame = ClientFrame::Flick { i: product, v: [0.8, 0.0, 0.3], q: seq };
                pending.push((seq, now_ms()));
                let bytes = client_frame(&wire::encode(&frame).expect("encode"));
                if stream.write_all(&bytes).await.is_err() {
                    totals.dropped.fetch_add(1, Relaxed);
                    return;
                }
            }
        }
    }
}

/// CPU seconds (user + system) and resident set of a process, from /proc.
fn proc_sample(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, rss_kb * 1024))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let origin = args.origin.clone().unwrap_or_else(|| args.urls[0].trim_end_matches('/').to_string());

    eprintln!("signing {} guest tokens…", args.clients);
    let started = Instant::now();
    let keys = swiftcart::auth::TokenKeys::new(args.jwt_secret.as_bytes());
    let tokens: Vec<String> = (0..args.clients)
        .map(|_| keys.issue(&uuid::Uuid::new_v4().to_string(), swiftcart::auth::Role::Guest).0)
        .collect();
    eprintln!("tokens in {:.1} s; connecting…", started.elapsed().as_secs_f64());

    let totals = Arc::new(Totals::default());
    let shards = Arc::new(Shards::new(64));
    let measure = Arc::new(Measure { on: false.into() });
    let connected = Arc::new(Semaphore::new(0));
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let catalog_size = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::with_capacity(args.clients);
    let connect_started = Instant::now();
    for (i, token) in tokens.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel(16);
        senders.push(tx);
        tokio::spawn(client(
            i,
            args.urls[i % args.urls.len()].clone(),
            origin.clone(),
            token,
            totals.clone(),
            shards.clone(),
            measure.clone(),
            rx,
            connected.clone(),
            gate.clone(),
            catalog_size.clone(),
        ));
    }
    let _all = connected.acquire_many(args.clients as u32).await?;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let failed = totals.connect_failures.load(Relaxed);
    eprintln!(
        "{} connected ({} failed) in {connect_secs:.1} s; warming up {} s…",
        args.clients as u64 - failed,
        failed,
        args.warmup
    );
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;

    let flicker = if args.gestures_per_sec > 0.0 {
        let senders = senders.clone();
        let catalog = catalog_size.load(Relaxed).max(1) as u32;
        let mean = 1.0 / args.gestures_per_sec;
        Some(tokio::spawn(async move {
            let mut k = 0usize;
            loop {
                // Exponential gaps (a Poisson stream), so flicks do not fall in step with ticks.
                let gap = -mean * (1.0 - rand::random::<f64>()).ln();
                tokio::time::sleep(Duration::from_secs_f64(gap)).await;
                let _ = senders[k % senders.len()].try_send((k as u32 * 7) % catalog);
                k += 1;
            }
        }))
    } else {
        None
    };

    let before: Vec<_> = args.server_pids.iter().map(|&p| proc_sample(p)).collect();
    let own_before = proc_sample(std::process::id());
    measure.on.store(true, Relaxed);
    let window = Instant::now();
    let mut peak_rss = vec![0u64; args.server_pids.len()];
    while window.elapsed() < Duration::from_secs(args.duration) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (peak, &pid) in peak_rss.iter_mut().zip(&args.server_pids) {
            if let Some((_, rss)) = proc_sample(pid) {
                *peak = (*peak).max(rss);
            }
        }
    }
    measure.on.store(false, Relaxed);
    let secs = window.elapsed().as_secs_f64();
    if let Some(f) = flicker {
        f.abort();
    }

    let mut latency = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for shard in &shards.latency {
        latency.add(&*shard.lock().expect("shard"))?;
    }
    let ms = |us: u64| us as f64 / 1_000.0;
    let frames = totals.frames.load(Relaxed);
    let bytes = totals.bytes.load(Relaxed);
    let live = args.clients as u64 - failed - totals.dropped.load(Relaxed);
    println!(
        "clients            {} requested, {} connected, {} dropped during the run",
        args.clients,
        args.clients as u64 - failed,
        totals.dropped.load(Relaxed)
    );
    println!("catalog            {} products", catalog_size.load(Relaxed));
    println!("connect            {connect_secs:.1} s for all handshakes");
    println!(
        "latency (recv - t) p50 {:.1} ms  p90 {:.1} ms  p99 {:.1} ms  max {:.1} ms  ({} frames)",
        ms(latency.value_at_quantile(0.50)),
        ms(latency.value_at_quantile(0.90)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max()),
        latency.len()
    );
    println!(
        "frames             {:.0} /s in total, {:.1} /s per client; {} skipped ticks; {} keyframes",
        frames as f64 / secs,
        frames as f64 / secs / live.max(1) as f64,
        totals.gaps.load(Relaxed),
        totals.keyframes.load(Relaxed)
    );
    println!(
        "events             {:.1} ev frames /s per client (other clients' gestures, forwarded at once)",
        totals.events.load(Relaxed) as f64 / secs / live.max(1) as f64
    );
    println!(
        "bytes              {:.2} MB/s in total, {:.0} B/s per client",
        bytes as f64 / secs / 1e6,
        bytes as f64 / secs / live.max(1) as f64
    );
    if args.gestures_per_sec > 0.0 {
        let ack = shards.ack.lock().expect("ack");
        println!(
            "gesture acks       {} ; p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            totals.acks.load(Relaxed),
            ms(ack.value_at_quantile(0.5)),
            ms(ack.value_at_quantile(0.99)),
            ms(ack.max())
        );
    }
    for ((&pid, before), peak) in args.server_pids.iter().zip(before).zip(peak_rss) {
        if let (Some((cpu0, _)), Some((cpu1, _))) = (before, proc_sample(pid)) {
            println!(
                "server pid {pid:<7} CPU {:.0} % of one core, peak RSS {:.1} MiB",
                (cpu1 - cpu0) / secs * 100.0,
                peak as f64 / 1_048_576.0
            );
        }
    }
    if let (Some((c0, _)), Some((c1, rss))) = (own_before, proc_sample(std::process::id())) {
        println!(
            "load tool          CPU {:.0} % of one core, RSS {:.1} MiB",
            (c1 - c0) / secs * 100.0,
            rss as f64 / 1_048_576.0
        );
    }
    std::process::exit(0);
}
