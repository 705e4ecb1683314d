//! What a client may hold of the server: Vault's HTTP timeouts per listener
//! (`http_read_header_timeout`, `http_read_timeout`, `http_idle_timeout`) and a cap on open
//! connections, so that a client trickling bytes or holding idle sockets cannot exhaust it.
//!
//! hyper's own header timeout also runs while a keep-alive connection waits for its next
//! request, which would make it the idle timeout; so, as Go's server does, the header clock
//! starts at the first byte of a request and the idle clock runs between requests. Both are
//! watched here, from the bytes the connection reads and writes.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use axum::http;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// One listener's limits; the defaults are Vault's (and a connection cap Vault lacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From the first byte of a request to the end of its headers.
    pub read_header_timeout: Duration,
    /// From the first byte of a request to the end of its body.
    pub read_timeout: Duration,
    /// Between requests on a keep-alive connection.
    pub idle_timeout: Duration,
    /// Connections served at once; further clients wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            read_header_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            max_connections: 4096,
        }
    }
}

/// What a connection has done, in milliseconds since it opened (0: never).
#[derive(Default)]
pub struct Activity {
    /// The last byte read or written.
    last_io: AtomicU64,
    /// The first byte of a request whose headers are not complete yet.
    head_started: AtomicU64,
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// HTTP/2: frames between requests (pings, window updates) are no request's start, so the
    /// header clock is not run; the idle clock still is.
    http2: std::sync::atomic::AtomicBool,
}

/// A connection's clock and activity, shared by its IO, its requests and its watchdog.
pub struct Watch {
    opened: Instant,
    activity: Activity,
}

impl Watch {
    /// A new connection's clock. The header clock runs from the start, as Go's does: a client
    /// that connects and sends nothing is cut off at the header timeout, not the idle one.
    pub fn new() -> Arc<Self> {
        let w = Arc::new(Watch {
            opened: Instant::now(),
            activity: Activity::default(),
        });
        w.activity.head_started.store(w.now(), Ordering::Release);
        w
    }

    fn now(&self) -> u64 {
        // Never 0, which means "not set".
        self.opened.elapsed().as_millis() as u64 + 1
    }

    fn read(&self) {
        let now = self.now();
        self.activity.last_io.store(now, Ordering::Relaxed);
        if self.activity.in_flight.load(Ordering::Acquire) == 0
            && !self.activity.http2.load(Ordering::Relaxed)
        {
            let _ = self.activity.head_started.compare_exchange(
                0,
                now,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

    fn wrote(&self) {
        self.activity.last_io.store(self.now(), Ordering::Relaxed);
    }

    /// A request's headers are in: it is being answered until the guard is dropped.
    pub fn request(self: &Arc<Self>, version: http::Version) -> InFlight {
        if version == http::Version::HTTP_2 {
            self.activity.http2.store(true, Ordering::Relaxed);
        }
        self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        self.activity.head_started.store(0, Ordering::Release);
        InFlight(Arc::clone(self))
    }

    /// Resolves when the connection has broken a limit: headers too slow, or idle too long.
    pub async fn expired(&self, limits: HttpLimits) -> &'static str {
        let header = limits.read_header_timeout.as_millis() as u64;
        let idle = limits.idle_timeout.as_millis() as u64;
        loop {
            let now = self.now();
            let started = self.activity.head_started.load(Ordering::Acquire);
            let busy = self.activity.in_flight.load(Ordering::Acquire) > 0;
            let last = self.activity.last_io.load(Ordering::Relaxed).max(1);
            let next = if started != 0 {
                if now.saturating_sub(started) >= header {
                    return "request headers not received in time";
                }
                started + header
            } else if !busy {
                if now.saturating_sub(last) >= idle {
                    return "idle connection timed out";
                }
                last + idle
            } else {
                now + 1000
            };
            // Wake at the next deadline, but at least once a second to notice a new request.
            let wait = next.saturating_sub(now).clamp(10, 1000);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    }
}

/// A request being answered; the connection counts as busy while any exists.
pub struct InFlight(Arc<Watch>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.wrote();
    }
}

/// A connection's IO, reporting every read and write to its [`Watch`].
pub struct Watched<I> {
    io: I,
    watch: Arc<Watch>,
}

impl<I> Watched<I> {
    pub fn new(io: I, watch: Arc<Watch>) -> Self {
        Watched { io, watch }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.read();
        }
        r
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.wrote();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.wrote();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_slow_header_and_an_idle_connection_expire() {
        let limits = HttpLimits {
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            ..HttpLimits::default()
        };
        let w = Watch::new();
        w.read();
        let t = tokio::time::Instant::now();
        assert_eq!(
            w.expired(limits).await,
            "request headers not received in time"
        );
        assert!(t.elapsed() >= Duration::from_secs(10) && t.elapsed() < Duration::from_secs(12));

        let w = Watch::new();
        w.read();
        let req = w.request(http::Version::HTTP_11);
        drop(req);
        let t = tokio::time::Instant::now();
        assert_eq!(w.expired(limits).await, "idle connection timed out");
        assert!(t.elapsed() >= Duration::from_secs(299));

        // A connection that never sends a byte is cut off at the header timeout.
        let w = Watch::new();
        let t = tokio::time::Instant::now();
        assert_eq!(
            w.expired(limits).await,
            "request headers not received in time"
        );
        assert!(t.elapsed() < Duration::from_secs(12));
    }
}
