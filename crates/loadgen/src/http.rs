//! A minimal HTTP/1.1 keep-alive client over tokio: requests are serialized once, responses are
//! parsed with httparse (head) and read as content-length, chunked or until-close bodies, and
//! thrown away. Small on purpose: the client shares the machine with the server it measures.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Where requests go: `http://host:port/path?query` (plain HTTP only).
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `host:port` as written in the URL (sent as `host`).
    pub authority: String,
    /// Path and query.
    pub path: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            bail!("`{url}`: only http:// URLs are supported");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() {
            bail!("`{url}`: no host");
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve `{authority}`"))?
            .next()
            .with_context(|| format!("`{authority}` resolves to no address"))?;
        Ok(Target {
            addr,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// A serialized request and where it goes.
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    pub bytes: Vec<u8>,
}

impl Request {
    /// `headers` are `(name, value)`; `content-length` is added when there is a body or the
    /// method usually has one, `content-type: application/json` when a body has no type.
    pub fn new(method: &str, target: Target, headers: &[(String, String)], body: &[u8]) -> Request {
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nhost: {}\r\n",
            target.path, target.authority
        );
        let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() && !has("content-type") {
            head.push_str("content-type: application/json\r\n");
        }
        if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body);
        Request { target, bytes }
    }
}

/// What came back (the body itself is discarded).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body_len: u64,
    /// The server will close the connection (or did): do not reuse it.
    pub close: bool,
    /// The first bytes of the body, when the caller asked for them.
    pub body_prefix: Vec<u8>,
}

/// How a response's body is delimited (from [`Conn::read_head`]).
#[derive(Debug, Clone, Copy)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Read at most this many bytes per read, waiting this long before each (slow readers).
    throttle: Option<(usize, Duration)>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            throttle: None,
        })
    }

    /// From now on, read at most `chunk` bytes at a time and sleep `delay` before each read.
    pub fn throttle(&mut self, chunk: usize, delay: Duration) {
        self.throttle = Some((chunk.max(1), delay));
    }

    /// Sends `req` and reads the whole response. `capture` is how many body bytes to keep.
    pub async fn request(&mut self, req: &[u8], capture: usize) -> io::Result<Response> {
        self.send(req).await?;
        self.read_response(capture).await
    }

    pub async fn send(&mut self, req: &[u8]) -> io::Result<()> {
        self.stream.write_all(req).await
    }

    /// Reads more bytes into the buffer; `UnexpectedEof` when the peer closed.
    async fn fill(&mut self) -> io::Result<()> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let mut limit = self.buf.len();
        if let Some((chunk, delay)) = self.throttle {
            limit = limit.min(self.end + chunk);
            tokio::time::sleep(delay).await;
        }
        let n = self.stream.read(&mut self.buf[self.end..limit]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// Reads the status line and headers (skipping 1xx answers).
    pub async fn read_head(&mut self) -> io::Result<(u16, bool, BodyKind)> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut resp = httparse::Response::new(&mut headers);
            let parsed = resp
                .parse(&self.buf[self.start..self.end])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            let httparse::Status::Complete(len) = parsed else {
                self.fill().await?;
                continue;
            };
            let status = resp.code.unwrap_or(0);
            let mut close = resp.version == Some(0);
            let mut length = None;
            let mut chunked = false;
            for h in resp.headers.iter() {
                if h.name.eq_ignore_ascii_case("content-length") {
                    length = std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok());
                } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = h
                        .value
                        .split(|&b| b == b',')
                        .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                } else if h.name.eq_ignore_ascii_case("connection") {
                    let v = h.value.trim_ascii();
                    if v.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if v.eq_ignore_ascii_case(b"keep-alive") {
                        close = false;
                    }
                }
            }
            self.start += len;
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let kind = if status == 204 || status == 304 {
                BodyKind::None
            } else if chunked {
                BodyKind::Chunked
            } else if let Some(n) = length {
                BodyKind::Length(n)
            } else {
                close = true;
                BodyKind::UntilClose
            };
            return Ok((status, close, kind));
        }
    }

    /// Reads a whole response.
    pub async fn read_response(&mut self, capture: usize) -> io::Result<Response> {
        let (status, close, kind) = self.read_head().await?;
        let mut prefix = Vec::new();
        let body_len = self.read_body(kind, capture, &mut prefix).await?;
        Ok(Response {
            status,
            body_len,
            close,
            body_prefix: prefix,
        })
    }

    /// Reads (and discards, keeping up to `capture` bytes in `prefix`) a body.
    pub async fn read_body(
        &mut self,
        kind: BodyKind,
        capture: usize,
        prefix: &mut Vec<u8>,
    ) -> io::Result<u64> {
        match kind {
            BodyKind::None => Ok(0),
            BodyKind::Length(n) => {
                self.skip(n, capture, prefix).await?;
                Ok(n)
            }
            BodyKind::UntilClose => {
                let mut total = 0;
                loop {
                    let avail = (self.end - self.start) as u64;
                    self.skip(avail, capture, prefix).await?;
                    total += avail;
                    match self.fill().await {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(total),
                        Err(e) => return Err(e),
                    }
                }
            }
            BodyKind::Chunked => {
                let mut total = 0;
                loop {
                    let size = self.chunk_size().await?;
                    if size == 0 {
                        // Trailers, up to an empty line.
                        while self.line_len().await? > 0 {}
                        return Ok(total);
                    }
                    self.skip(size, capture, prefix).await?;
                    total += size;
                    if self.line_len().await? != 0 {
                        return Err(invalid("chunk not followed by CRLF"));
                    }
                }
            }
        }
    }

    async fn skip(&mut self, mut n: u64, capture: usize, prefix: &mut Vec<u8>) -> io::Result<()> {
        loop {
            let avail = self.end - self.start;
            let take = (avail as u64).min(n) as usize;
            if prefix.len() < capture {
                let keep = take.min(capture - prefix.len());
                prefix.extend_from_slice(&self.buf[self.start..self.start + keep]);
            }
            self.start += take;
            n -= take as u64;
            if n == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Consumes one line; returns its length without CR LF.
    async fn line_len(&mut self) -> io::Result<usize> {
        let (len, _) = self.line(|_| ()).await?;
        Ok(len)
    }

    async fn chunk_size(&mut self) -> io::Result<u64> {
        let (_, size) = self
            .line(|line| {
                let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
            })
            .await?;
        size.ok_or_else(|| invalid("bad chunk size"))
    }

    async fn line<T>(&mut self, f: impl Fn(&[u8]) -> T) -> io::Result<(usize, T)> {
        loop {
            let window = &self.buf[self.start..self.end];
            if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                let line = window[..nl].strip_suffix(b"\r").unwrap_or(&window[..nl]);
                let out = (line.len(), f(line));
                self.start += nl + 1;
                return Ok(out);
            }
            if window.len() > 64 * 1024 {
                return Err(invalid("line too long"));
            }
            self.fill().await?;
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_and_builds_requests() {
        let t = Target::parse("http://127.0.0.1:8080/v1/chat/completions?x=1").unwrap();
        assert_eq!(t.addr.port(), 8080);
        assert_eq!(t.path, "/v1/chat/completions?x=1");
        let t = Target::parse("http://127.0.0.1").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
        assert!(Target::parse("https://example.invalid/").is_err());
        let r = Request::new(
            "POST",
            Target::parse("http://127.0.0.1:1/a").unwrap(),
            &[("authorization".into(), "Bearer k".into())],
            b"{}",
        );
        assert_eq!(
            String::from_utf8(r.bytes).unwrap(),
            "POST /a HTTP/1.1\r\nhost: 127.0.0.1:1\r\nauthorization: Bearer k\r\n\
             content-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    /// Serves canned bytes on one connection, then reads responses with the client.
    async fn serve_bytes(raw: &'static [u8]) -> Conn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            // Dribble the bytes to exercise partial reads.
            for piece in raw.chunks(7) {
                s.write_all(piece).await.unwrap();
                s.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        });
        Conn::connect(addr).await.unwrap()
    }

    #[tokio::test]
    async fn reads_length_chunked_and_until_close_bodies() {
        let mut c = serve_bytes(
            b"HTTP/1.1 100 Continue\r\n\r\n\
              HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello\
              HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n\
              4;ext=1\r\nnope\r\n3\r\n!!!\r\n0\r\ntrailer: x\r\n\r\n\
              HTTP/1.0 200 OK\r\n\r\nrest of it",
        )
        .await;
        let r = c.read_response(0).await.unwrap();
        assert_eq!((r.status, r.body_len, r.close), (200, 5, false));
        let r = c.read_response(5).await.unwrap();
        assert_eq!((r.status, r.body_len), (403, 7));
        assert_eq!(r.body_prefix, b"nope!");
        let r = c.read_response(100).await.unwrap();
        assert_eq!((r.status, r.body_len, r.close), (200, 10, true));
        assert_eq!(r.body_prefix, b"rest of it");
    }
}
