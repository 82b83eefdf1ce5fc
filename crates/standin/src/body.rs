//! Response bodies: one buffer for all SSE events, sent one frame per event, optionally slowed or cut.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use serde::Serialize;
use tokio::time::Sleep;

/// A generated answer before faults are applied.
pub(crate) enum Output {
    Json(Vec<u8>),
    Sse(Sse),
}

/// Server-sent events written into one buffer; `ends` holds where each event ends.
#[derive(Default)]
pub(crate) struct Sse {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Sse {
    pub fn with_capacity(bytes: usize, events: usize) -> Sse {
        Sse {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(events),
        }
    }

    /// `event: NAME` (when given) and `data: JSON`.
    pub fn event<T: Serialize + ?Sized>(&mut self, name: Option<&str>, data: &T) {
        if let Some(name) = name {
            self.buf.extend_from_slice(b"event: ");
            self.buf.extend_from_slice(name.as_bytes());
            self.buf.push(b'\n');
        }
        self.buf.extend_from_slice(b"data: ");
        // Serializing plain structs and strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, data);
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    /// A `data:` line with raw text (OpenAI's `[DONE]`).
    pub fn raw_data(&mut self, data: &str) {
        self.buf.extend_from_slice(b"data: ");
        self.buf.extend_from_slice(data.as_bytes());
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }
}

/// The error a cut body ends with; hyper then drops the connection.
#[derive(Debug)]
pub(crate) struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stand-in fault: connection cut")
    }
}

impl std::error::Error for Cut {}

/// A body sent as frames from one shared buffer.
pub(crate) struct Frames {
    buf: Bytes,
    ends: Vec<usize>,
    next: usize,
    pos: usize,
    /// Frames to send before failing, when the body is cut.
    cut_after: Option<usize>,
    /// Advertised length (JSON bodies), so a cut JSON body is visibly short.
    exact_len: Option<u64>,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Whether the pause before a cut happened.
    flushed: bool,
    /// Counts this body if it is dropped before its last event (the client went away).
    abandoned: Option<Arc<AtomicU64>>,
}

impl Frames {
    /// One frame per event, or (`coalesce`, unless cut or slowed) one frame for the stream;
    /// `abandoned` is incremented if the body is dropped before its last event.
    pub fn sse(
        sse: Sse,
        cut_after: Option<usize>,
        delay: Option<Duration>,
        coalesce: bool,
        abandoned: Arc<AtomicU64>,
    ) -> Frames {
        let ends = if coalesce && cut_after.is_none() && delay.is_none() {
            vec![sse.buf.len()]
        } else {
            sse.ends
        };
        Frames {
            buf: Bytes::from(sse.buf),
            ends,
            next: 0,
            pos: 0,
            cut_after,
            exact_len: None,
            delay,
            sleep: None,
            flushed: false,
            abandoned: Some(abandoned),
        }
    }

    /// A JSON body that announces its full length but sends only the first half.
    pub fn cut_json(json: Vec<u8>) -> Frames {
        let len = json.len();
        Frames {
            buf: Bytes::from(json),
            ends: vec![len / 2],
            next: 0,
            pos: 0,
            cut_after: Some(1),
            exact_len: Some(len as u64),
            delay: None,
            sleep: None,
            flushed: false,
            abandoned: None,
        }
    }

    fn limit(&self) -> usize {
        self.cut_after
            .map_or(self.ends.len(), |n| n.min(self.ends.len()))
    }
}

impl Drop for Frames {
    fn drop(&mut self) {
        if self.next < self.limit()
            && let Some(counter) = &self.abandoned
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl HttpBody for Frames {
    type Data = Bytes;
    type Error = Cut;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Cut>>> {
        let this = self.get_mut();
        if this.next >= this.limit() {
            if this.cut_after.is_none() {
                return Poll::Ready(None);
            }
            // Pause once so hyper flushes what was sent; failing right away would make it
            // drop the buffered events (and even the headers) with the connection.
            if !this.flushed {
                this.flushed = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            return Poll::Ready(Some(Err(Cut)));
        }
        if let Some(delay) = this.delay
            && this.next > 0
        {
            let sleep = this
                .sleep
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        let end = this.ends[this.next];
        let frame = this.buf.slice(this.pos..end);
        this.pos = end;
        this.next += 1;
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.cut_after.is_none() && self.next >= self.ends.len()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
