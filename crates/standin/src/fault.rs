//! Injected faults: a queue set through `POST /_standin/faults`, or one request's `x-standin-fault` header.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

/// How one model request fails. Fields combine: the delay comes first, then a hang, a status
/// answer, or a normal answer that is cut (and/or slowed between events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Answer with this HTTP status (400–599) and a provider-format error body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Wait this long before sending anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Send this many SSE events, then drop the connection without the stream's terminator.
    /// A JSON answer is cut after half of its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after_events: Option<usize>,
    /// Never answer (until the server shuts down).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hang: bool,
    /// Wait this long between SSE events (for streaming pass-through tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_delay_ms: Option<u64>,
}

impl Fault {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(s) = self.status
            && !(400..=599).contains(&s)
        {
            return Err(format!("status must be between 400 and 599, not {s}"));
        }
        Ok(())
    }

    /// Parses the `x-standin-fault` header: comma-, semicolon- or space-separated items
    /// `status=N`, `delay-ms=N`, `cut-after=N`, `event-delay-ms=N`, `hang`.
    pub fn parse_header(value: &str) -> Result<Fault, String> {
        let mut fault = Fault::default();
        let mut any = false;
        for item in value
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|i| !i.is_empty())
        {
            any = true;
            let (key, val) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let number = |v: Option<&str>| -> Result<u64, String> {
                v.and_then(|v| v.parse().ok())
                    .ok_or_else(|| format!("x-standin-fault: `{item}` needs a number"))
            };
            match key.to_ascii_lowercase().replace('_', "-").as_str() {
                "status" => {
                    fault.status = Some(
                        u16::try_from(number(val)?)
                            .map_err(|_| format!("x-standin-fault: bad status `{item}`"))?,
                    )
                }
                "delay-ms" | "delay" => fault.delay_ms = Some(number(val)?),
                "cut-after" | "cut-after-events" | "cut" => {
                    fault.cut_after_events = Some(number(val)? as usize)
                }
                "event-delay-ms" => fault.event_delay_ms = Some(number(val)?),
                "hang" => fault.hang = !matches!(val, Some("false" | "0")),
                _ => return Err(format!("x-standin-fault: unknown item `{item}`")),
            }
        }
        if !any {
            return Err("x-standin-fault: empty header".to_owned());
        }
        fault.validate()?;
        Ok(fault)
    }
}

/// A queued fault and how many more requests it applies to.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Queued {
    #[serde(flatten)]
    pub fault: Fault,
    pub times: u32,
}

/// The fault queue. `pending` lets requests skip the lock when nothing is queued.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    pending: AtomicUsize,
    queue: Mutex<VecDeque<Queued>>,
}

impl FaultQueue {
    pub fn push(&self, fault: Fault, times: u32) {
        if times == 0 {
            return;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.push_back(Queued { fault, times });
        self.pending.store(q.len(), Ordering::Release);
    }

    /// Takes the fault for the next model request, if any is queued.
    pub fn take(&self) -> Option<Fault> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let front = q.front_mut()?;
        front.times -= 1;
        let fault = if front.times == 0 {
            q.pop_front().map(|f| f.fault)
        } else {
            Some(front.fault.clone())
        };
        self.pending.store(q.len(), Ordering::Release);
        fault
    }

    pub fn clear(&self) {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.clear();
        self.pending.store(0, Ordering::Release);
    }

    pub fn snapshot(&self) -> Vec<Queued> {
        let q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_items_combine() {
        let f = Fault::parse_header("status=503, delay-ms=5; cut-after=2 hang").unwrap();
        assert_eq!(
            f,
            Fault {
                status: Some(503),
                delay_ms: Some(5),
                cut_after_events: Some(2),
                hang: true,
                event_delay_ms: None,
            }
        );
        assert!(Fault::parse_header("status=200").is_err());
        assert!(Fault::parse_header("explode").is_err());
        assert!(Fault::parse_header("delay-ms=soon").is_err());
        assert!(Fault::parse_header(" ").is_err());
    }

    #[test]
    fn queue_counts_down() {
        let q = FaultQueue::default();
        assert_eq!(q.take(), None);
        let f = Fault {
            status: Some(500),
            ..Fault::default()
        };
        q.push(f.clone(), 2);
        q.push(Fault::default(), 1);
        assert_eq!(q.take(), Some(f.clone()));
        assert_eq!(q.take(), Some(f));
        assert_eq!(q.take(), Some(Fault::default()));
        assert_eq!(q.take(), None);
    }
}
