//! The abuse run (issue 12): floods a running node the way an attacker would, from this machine,
//! and reports the node's resident memory before, during and after.
//!
//! 1. guest sessions: `--guests` `POST /api/auth/guest`, 64 at a time;
//! 2. sockets: `--sockets` WebSocket handshakes with locally signed guest tokens, held open;
//! 3. big bodies: `--big-bodies` requests of 1 MiB to `/api/auth/login`;
//! 4. slow clients: `--slow` connections that send nothing, and as many that send half a header;
//!
//! then everything is closed and, after `--settle` seconds, memory is read again. The node must
//! run with its defaults (per-address limits on). `scripts/abuse.sh` starts a release node with
//! its own database and runs this; docs/performance.md records the figures.

use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

#[derive(Parser, Debug)]
#[command(about = "Floods a SwiftCart node and reports its memory before and after")]
struct Args {
    /// The node.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// The node's process id (its memory is read from /proc).
    #[arg(long)]
    server_pid: u32,
    /// New guest sessions asked for.
    #[arg(long, default_value_t = 5_000)]
    guests: usize,
    /// Sockets attempted (and held while the run lasts).
    #[arg(long, default_value_t = 2_000)]
    sockets: usize,
    /// Requests with a 1 MiB body.
    #[arg(long, default_value_t = 500)]
    big_bodies: usize,
    /// Silent connections, and as many with unfinished headers.
    #[arg(long, default_value_t = 1_000)]
    slow: usize,
    /// Seconds to wait after the run before reading memory again.
    #[arg(long, default_value_t = 15)]
    settle: u64,
    /// The node's `SWIFTCART_JWT_SECRET`, to sign the sockets' guest tokens.
    #[arg(long, env = "SWIFTCART_JWT_SECRET", default_value = swiftcart::config::DEV_JWT_SECRET, hide_env_values = true)]
    jwt_secret: String,
    /// Cargo passes this to bench binaries; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Sends `requests`, `concurrency` at a time; their status codes (0: no answer).
async fn statuses(requests: impl Iterator<Item = reqwest::RequestBuilder>, concurrency: usize) -> Vec<u16> {
    futures_util::stream::iter(requests)
        .map(|request| async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// Counts answers by status code (0: no answer).
fn tally(statuses: impl IntoIterator<Item = u16>) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for status in statuses {
        *counts.entry(status).or_insert(0usize) += 1;
    }
    counts.iter().map(|(status, n)| format!("{status}: {n}")).collect::<Vec<_>>().join(", ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let host = args.url.trim_start_matches("http://").trim_end_matches('/').to_string();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let idle = rss_mib(args.server_pid);
    let mut peak = idle;
    println!("idle: {idle:.1} MiB");
    let started = Instant::now();

    let guests = statuses((0..args.guests).map(|_| http.post(format!("{}/api/auth/guest", args.url))), 64).await;
    peak = peak.max(rss_mib(args.server_pid));
    println!("guest sessions: {}", tally(guests));

    let keys = swiftcart::auth::TokenKeys::new(args.jwt_secret.as_bytes());
    let mut held_sockets = Vec::new();
    let mut socket_answers = Vec::new();
    for _ in 0..args.sockets {
        let (token, _) = keys.issue(&uuid::Uuid::new_v4().to_string(), swiftcart::auth::Role::Guest);
        let mut request = format!("ws://{host}/ws").into_client_request()?;
        request.headers_mut().insert("Origin", HeaderValue::from_str(&args.url)?);
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&format!("swiftcart.v1, bearer.{token}"))?);
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => {
                held_sockets.push(socket);
                socket_answers.push(101);
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                socket_answers.push(response.status().as_u16())
            }
            Err(_) => socket_answers.push(0),
        }
    }
    peak = peak.max(rss_mib(args.server_pid));
    println!("sockets: {} (held: {})", tally(socket_answers), held_sockets.len());

    let body = vec![b'x'; 1024 * 1024];
    let big = statuses(
        (0..args.big_bodies).map(|_| {
            http.post(format!("{}/api/auth/login", args.url))
                .header("Content-Type", "application/json")
                .body(body.clone())
        }),
        32,
    )
    .await;
    peak = peak.max(rss_mib(args.server_pid));
    println!("1 MiB bodies: {}", tally(big));

    let mut slow = Vec::new();
    for n in 0..2 * args.slow {
        let Ok(mut tcp) = TcpStream::connect(&host).await else { continue };
        if n % 2 == 1 {
            let _ = tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").await;
        }
        slow.push(tcp);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    peak = peak.max(rss_mib(args.server_pid));
    println!("slow connections opened: {}", slow.len());

    drop(held_sockets);
    drop(slow);
    println!("abuse took {:.1} s; settling {} s", started.elapsed().as_secs_f64(), args.settle);
    tokio::time::sleep(Duration::from_secs(args.settle)).await;
    let after = rss_mib(args.server_pid);
    let healthy = http.get(format!("{}/healthz", args.url)).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    println!("peak: {peak:.1} MiB; after: {after:.1} MiB ({:.2}x idle); /healthz: {healthy}", after / idle);
    Ok(())
}
