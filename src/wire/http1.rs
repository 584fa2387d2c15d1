//! A plain-HTTP GET on a kept-open connection, for the health probes a poller repeats every
//! second: the request is one write and the answer one read, with no connection task, no
//! pool and no URL parsed per request (reqwest and hyper cost the watching console a fifth
//! of its CPU for four probes a second). Only `http://` URLs without credentials are asked
//! this way; everything else goes through reqwest ([`super::health::Prober`] decides).

use std::io;
use std::net::{IpAddr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Past this much a response's head is not an answer a health URL gives.
const HEAD_MAX: usize = 64 * 1024;

/// Where a plain-HTTP URL is asked and the request that asks it, made once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    host: Host,
    request: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Addr(SocketAddr),
    Name(String, u16),
}

impl Plain {
    /// The plan for `url`, or None when it is not plain HTTP this client asks (https,
    /// credentials in the URL, no host, not a URL).
    pub fn parse(url: &str) -> Option<Plain> {
        let u = reqwest::Url::parse(url).ok()?;
        if u.scheme() != "http" || !u.username().is_empty() || u.password().is_some() {
            return None;
        }
        let port = u.port_or_known_default()?;
        let name = u.host_str()?;
        let host = match name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => Host::Addr(SocketAddr::new(ip, port)),
            Err(_) => Host::Name(name.to_string(), port),
        };
        let authority = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str()?),
            None => u.host_str()?.to_string(),
        };
        let target = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nhost: {authority}\r\nuser-agent: lbdeck/{}\r\naccept: */*\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes();
        Some(Plain { host, request })
    }

    async fn connect(&self) -> io::Result<TcpStream> {
        let stream = match &self.host {
            Host::Addr(a) => TcpStream::connect(a).await?,
            Host::Name(n, p) => TcpStream::connect((n.as_str(), *p)).await?,
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// How far an exchange got, read after it failed or ran out of time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The status, once the head arrived.
    pub status: Option<u16>,
    /// Body bytes that arrived.
    pub read: usize,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be made.
    Connect(io::Error),
    /// A kept connection was gone before any of the answer came (the other end closed it
    /// while idle): says nothing of a new request.
    Stale,
    /// The exchange failed: the sentence.
    Broken(String),
}

/// One kept-open connection to one URL's host.
#[derive(Default)]
pub struct KeptGet {
    conn: Option<(TcpStream, Vec<u8>)>,
}

impl KeptGet {
    /// Drops the connection (an exchange was cut off); the next get connects anew.
    pub fn reset(&mut self) {
        self.conn = None;
    }

    /// Sends `plain`'s GET on the kept connection (made first when there is none) and reads
    /// the whole answer, at most `body_enough` bytes of its body; returns the status. The
    /// connection is kept when the answer allows it and was read whole. `progress` says
    /// how far it got, for a caller that stops waiting.
    pub async fn get(
        &mut self,
        plain: &Plain,
        body_enough: usize,
        progress: &mut Progress,
    ) -> Result<u16, Failure> {
        let reused = self.conn.is_some();
        let (mut stream, mut buf) = match self.conn.take() {
            Some(c) => c,
            None => (
                plain.connect().await.map_err(Failure::Connect)?,
                Vec::with_capacity(1024),
            ),
        };
        let stale = |e: String| {
            if reused {
                Failure::Stale
            } else {
                Failure::Broken(e)
            }
        };
        if let Err(e) = stream.write_all(&plain.request).await {
            return Err(stale(e.to_string()));
        }
        buf.clear();
        // The head; informational answers (1xx, e.g. 103 Early Hints) come before the real
        // one, and what follows them may already be in the buffer.
        let mut answered = false;
        let (status, framing, keep, head_len) = loop {
            match head(&buf)? {
                Some(h) if (100..200).contains(&h.0) => {
                    buf.drain(..h.3);
                    continue;
                }
                Some(h) => break h,
                None if buf.len() > HEAD_MAX => {
                    return Err(Failure::Broken(format!(
                        "the answer's head is larger than {} KiB",
                        HEAD_MAX / 1024
                    )))
                }
                None => {}
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) if !answered => {
                    return Err(stale("the connection closed before an answer".into()))
                }
                Ok(0) => {
                    return Err(Failure::Broken(
                        "the connection closed in the middle of the answer's head".into(),
                    ))
                }
                Ok(_) => answered = true,
                Err(e) if !answered => return Err(stale(e.to_string())),
                Err(e) => return Err(Failure::Broken(e.to_string())),
            }
        };
        progress.status = Some(status);
        buf.drain(..head_len);
        let whole = body(&mut stream, &mut buf, framing, body_enough, progress).await?;
        if keep && whole {
            self.conn = Some((stream, buf));
        }
        Ok(status)
    }
}

/// How a body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(usize),
    Chunked,
    Close,
}

/// A complete head in `buf`: status, framing, whether the connection stays open, length.
fn head(buf: &[u8]) -> Result<Option<(u16, Framing, bool, usize)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Failure::Broken(format!("not an HTTP answer ({e})"))),
    };
    let status = resp.code.unwrap_or(0);
    let mut keep = resp.version == Some(1);
    let mut length = None;
    let mut chunked = false;
    for h in resp.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                keep = false;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            match value.trim().parse::<usize>() {
                Ok(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => {
                    return Err(Failure::Broken(format!(
                        "the answer's content-length {:?} is not a length",
                        value.trim()
                    )))
                }
            }
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        keep = false;
        Framing::Close
    };
    Ok(Some((status, framing, keep, len)))
}

/// Reads the body after the head (what of it came with the head is in `buf`), at most
/// `enough` bytes of it; true when it was read whole with nothing after it, so the
/// connection can serve the next request.
async fn body(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    framing: Framing,
    enough: usize,
    progress: &mut Progress,
) -> Result<bool, Failure> {
    match framing {
        Framing::None => Ok(buf.is_empty()),
        Framing::Length(n) => {
            let want = n.min(enough);
            while buf.len() < want {
                progress.read = buf.len();
                more(stream, buf).await?;
            }
            progress.read = want;
            Ok(n <= enough && buf.len() == n)
        }
        Framing::Close => {
            while buf.len() < enough {
                progress.read = buf.len();
                match stream.read_buf(buf).await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => return Err(Failure::Broken(e.to_string())),
                }
            }
            progress.read = buf.len().min(enough);
            Ok(false)
        }
        Framing::Chunked => {
            let mut at = 0;
            let mut read = 0;
            loop {
                // The chunk's size line.
                let line_end = loop {
                    if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                        break at + i;
                    }
                    if buf.len() - at > 1024 {
                        return Err(Failure::Broken("a chunk size line is too long".into()));
                    }
                    more(stream, buf).await?;
                };
                let line = String::from_utf8_lossy(&buf[at..line_end]);
                let hex = line.split(';').next().unwrap_or("").trim();
                let size = usize::from_str_radix(hex, 16).map_err(|_| {
                    Failure::Broken(format!("a chunk size {hex:?} is not hexadecimal"))
                })?;
                at = line_end + 2;
                if size == 0 {
                    // Trailers, if any, then the empty line.
                    loop {
                        if buf[at..].starts_with(b"\r\n") {
                            return Ok(buf.len() == at + 2);
                        }
                        if let Some(i) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") {
                            return Ok(buf.len() == at + i + 4);
                        }
                        if buf.len() - at > HEAD_MAX {
                            return Err(Failure::Broken(
                                "the answer's trailers are too long".into(),
                            ));
                        }
                        more(stream, buf).await?;
                    }
                }
                let take = size.min(enough - read);
                while buf.len() < at + take {
                    progress.read = read + (buf.len() - at);
                    more(stream, buf).await?;
                }
                read += take;
                progress.read = read;
                if read >= enough {
                    return Ok(false);
                }
                while buf.len() < at + size + 2 {
                    more(stream, buf).await?;
                }
                if &buf[at + size..at + size + 2] != b"\r\n" {
                    return Err(Failure::Broken(
                        "a chunk does not end where its size says".into(),
                    ));
                }
                at += size + 2;
                // Keep the buffer small on long bodies.
                if at > 16 * 1024 {
                    buf.drain(..at);
                    at = 0;
                }
            }
        }
    }
}

/// Reads more of the answer into `buf`; the end of the connection is an error here.
async fn more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), Failure> {
    buf.reserve(4096);
    match stream.read_buf(buf).await {
        Ok(0) => Err(Failure::Broken(
            "the connection closed before the answer was complete".into(),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Failure::Broken(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_is_asked_with_its_path_query_and_host() {
        let p = Plain::parse("http://10.77.0.21:8080/health?deep=1#top").expect("plain");
        assert_eq!(p.host, Host::Addr("10.77.0.21:8080".parse().expect("addr")));
        let r = String::from_utf8(p.request).expect("text");
        assert!(
            r.starts_with("GET /health?deep=1 HTTP/1.1\r\nhost: 10.77.0.21:8080\r\n"),
            "{r}"
        );
        assert!(r.ends_with("accept: */*\r\n\r\n"), "{r}");
        let p = Plain::parse("http://web1.example/").expect("plain");
        assert_eq!(p.host, Host::Name("web1.example".into(), 80));
        assert!(String::from_utf8_lossy(&p.request).contains("host: web1.example\r\n"));
        let p = Plain::parse("http://[::1]/").expect("plain");
        assert_eq!(p.host, Host::Addr("[::1]:80".parse().expect("addr")));
        assert!(String::from_utf8_lossy(&p.request).contains("host: [::1]\r\n"));
    }

    #[test]
    fn other_urls_are_left_to_reqwest() {
        for url in [
            "https://10.0.0.1/",
            "http://user:pw@10.0.0.1/",
            "ftp://10.0.0.1/",
            "not a url",
        ] {
            assert_eq!(Plain::parse(url), None, "{url}");
        }
    }

    #[test]
    fn a_head_says_how_its_body_ends_and_whether_the_connection_stays() {
        let h = |s: &str| head(s.as_bytes()).ok().flatten().map(|h| (h.0, h.1, h.2));
        for (answer, expected) in [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                (200, Framing::Length(2), true),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n",
                (200, Framing::Chunked, true),
            ),
            (
                "HTTP/1.1 503 x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                (503, Framing::Length(0), false),
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n",
                (200, Framing::Length(2), false),
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", (200, Framing::Close, false)),
            (
                "HTTP/1.1 304 Not Modified\r\n\r\n",
                (304, Framing::None, true),
            ),
        ] {
            assert_eq!(h(answer), Some(expected), "{answer:?}");
        }
        assert_eq!(h("HTTP/1.1 200 OK\r\nContent-Le"), None);
        assert!(matches!(
            head(b"SSH-2.0-OpenSSH_9.2\r\n"),
            Err(Failure::Broken(_))
        ));
        assert!(matches!(
            head(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"),
            Err(Failure::Broken(_))
        ));
    }
}
