//! A kept-open HAProxy runtime-API session for the poller: one connection per balancer in
//! HAProxy's interactive `prompt` mode, reused by every poll, so watching costs one
//! request and one answer a second instead of a connection set up and torn down each
//! time. Any fault drops the connection; the next poll opens a new one.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::wire::api::{
    parse_level, probed_level, Access, ApiTarget, Stream, ADMIN_PROBE, LEVEL_PROBE,
};
use crate::wire::{SourceError, MAX_REPLY};

/// Why a read ended without an answer.
const CLOSED: &str = "HAProxy closed the session";

/// What HAProxy prints after each answer in prompt mode.
const PROMPT: &str = "\n> ";

/// One balancer's runtime API, connected on first use and kept open.
#[derive(Default)]
pub struct Session {
    stream: Option<Box<dyn Stream>>,
    /// The API closed the connection on `prompt`: it answers one command per
    /// connection only, so every poll connects anew.
    one_shot: bool,
    /// How the API was reached and its level, learned on connecting.
    access: Option<Access>,
}

impl Session {
    /// Sends `command` (several joined by `;`) and returns the answer without its prompt.
    /// A kept connection that fails (HAProxy closes idle sessions after `stats timeout`,
    /// or reloaded) is replaced once at once; any other error drops the connection, to be
    /// made again next time.
    pub async fn ask(&mut self, api: &ApiTarget<'_>, command: &str) -> Result<String, SourceError> {
        if self.one_shot {
            return self.ask_once(api, command).await;
        }
        let reused = self.stream.is_some();
        let mut result = self.exchange(api, command).await;
        if result.is_err() && reused {
            self.stream = None;
            result = self.exchange(api, command).await;
        }
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// A connection is open, to be reused by the next ask.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// How the API was reached and its level, once connected.
    pub fn access(&self) -> Option<&Access> {
        self.access.as_ref()
    }

    /// One command on a connection of its own; the level is asked once.
    async fn ask_once(
        &mut self,
        api: &ApiTarget<'_>,
        command: &str,
    ) -> Result<String, SourceError> {
        if self.access.as_ref().is_none_or(|a| a.level.is_none()) {
            self.access = Some(api.access().await?);
        }
        Ok(api.ask(command).await?.0)
    }

    /// Drops the connection (an answer was cut off); the next ask opens a new one.
    pub fn reset(&mut self) {
        self.stream = None;
    }

    async fn exchange(
        &mut self,
        api: &ApiTarget<'_>,
        command: &str,
    ) -> Result<String, SourceError> {
        if self.stream.is_none() {
            let (mut stream, mut access) = api.open().await?;
            // `prompt` switches the session to interactive mode; HAProxy answers with its
            // first prompt (no leading newline).
            stream.write_all(b"prompt\n").await.map_err(io)?;
            let greeting = match read_to_prompt(&mut stream, 1).await {
                // Closed on `prompt`: an API that answers one command a connection, if
                // it answers one on a connection of its own (a relay over SSH that could
                // not reach the socket closes the same way).
                Err(SourceError::RuntimeIo(e)) if e == CLOSED => {
                    let answer = self.ask_once(api, command).await?;
                    self.one_shot = true;
                    return Ok(answer);
                }
                other => other?,
            };
            if !greeting.trim().is_empty() {
                return Err(SourceError::RuntimeIo(format!(
                    "unexpected answer to prompt: {}",
                    crate::text::clip(&greeting, 80)
                )));
            }
            let named = parse_level(&converse(&mut stream, LEVEL_PROBE).await?);
            access.level = Some(match named {
                Some(level) => level,
                None => probed_level(&converse(&mut stream, ADMIN_PROBE).await?),
            });
            self.access = Some(access);
            self.stream = Some(stream);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(SourceError::RuntimeIo("no session".into()));
        };
        stream
            .write_all(format!("{command}\n").as_bytes())
            .await
            .map_err(io)?;
        // In prompt mode each of the `;`-joined commands ends with its own prompt.
        read_to_prompt(stream, command.split(';').count()).await
    }
}

fn io(e: std::io::Error) -> SourceError {
    SourceError::RuntimeIo(e.to_string())
}

/// One command in prompt mode: sent, and its answer read up to the prompt.
async fn converse(stream: &mut Box<dyn Stream>, command: &str) -> Result<String, SourceError> {
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(io)?;
    read_to_prompt(stream, 1).await
}

/// Reads until `answers` prompts have come and the text ends with one; returns it as
/// one-shot mode would have (each prompt a plain newline).
async fn read_to_prompt<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    answers: usize,
) -> Result<String, SourceError> {
    let mut body = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            return Err(SourceError::RuntimeIo("HAProxy closed the session".into()));
        }
        if body.len() + n > MAX_REPLY {
            return Err(SourceError::TooBig);
        }
        body.extend_from_slice(&buf[..n]);
        // Prompts are ASCII: counted on the bytes, the answer made text once, when whole.
        let prompt = PROMPT.as_bytes();
        if !(body.ends_with(prompt) || body == b"> ") {
            continue;
        }
        // The first prompt of a session has no newline before it.
        let prompts = body.windows(prompt.len()).filter(|w| *w == prompt).count()
            + usize::from(body.starts_with(b"> "));
        if prompts >= answers || body == b"> " {
            return Ok(String::from_utf8_lossy(&body)
                .replace(PROMPT, "\n")
                .trim_start_matches("> ")
                .to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::RuntimeApi;

    fn target(api: &RuntimeApi) -> ApiTarget<'_> {
        ApiTarget::new(api, "lb1", None)
    }

    /// A runtime API in prompt mode on loopback: answers each line with `reply` and a
    /// prompt, counting connections.
    async fn fake(
        reply: &'static str,
    ) -> (RuntimeApi, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns = std::sync::Arc::new(AtomicUsize::new(0));
        let seen = conns.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    let mut line = Vec::new();
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        line.extend_from_slice(&buf[..n]);
                        while let Some(i) = line.iter().position(|b| *b == b'\n') {
                            let cmd: Vec<u8> = line.drain(..=i).collect();
                            let commands = cmd.split(|b| *b == b';').count();
                            let out = if cmd.starts_with(b"prompt") {
                                "\n> ".to_string()
                            } else {
                                format!("{reply}\n> ").repeat(commands)
                            };
                            if s.write_all(out.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (RuntimeApi::Tcp(addr.to_string()), conns)
    }

    #[tokio::test]
    async fn one_connection_serves_every_poll() {
        let (api, conns) = fake("Name: HAProxy\n").await;
        let mut s = Session::default();
        for _ in 0..3 {
            let answer = s.ask(&target(&api), "show info").await.expect("answer");
            assert_eq!(answer, "Name: HAProxy\n\n");
        }
        // Each `;`-joined command ends with its own prompt: all are waited for.
        let answer = s
            .ask(&target(&api), "show info; show stat")
            .await
            .expect("answer");
        assert_eq!(answer, "Name: HAProxy\n\nName: HAProxy\n\n");
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Its level was asked on that same connection, once.
        let access = s.access().expect("learned on connecting");
        assert_eq!(
            (access.reach.as_str(), access.level),
            ("tcp", Some(crate::wire::api::Level::Admin))
        );
    }

    #[tokio::test]
    async fn a_session_the_api_closed_is_replaced_at_once() {
        let (api, conns) = fake("ok").await;
        let mut s = Session::default();
        s.ask(&target(&api), "show info").await.expect("first");
        // As if HAProxy had closed it: a stream that reads EOF.
        let (mut ours, theirs) = tokio::io::duplex(64);
        drop(theirs);
        let _ = ours.shutdown().await;
        s.stream = Some(Box::new(ours));
        assert_eq!(
            s.ask(&target(&api), "show info").await.expect("again"),
            "ok\n"
        );
        assert_eq!(conns.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_api_without_prompt_mode_is_asked_one_command_a_connection() {
        // Answers one command, then closes: as an API that ignores `prompt` would.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let api = RuntimeApi::Tcp(listener.local_addr().expect("addr").to_string());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 256];
                let n = s.read(&mut buf).await.unwrap_or(0);
                if !buf[..n].starts_with(b"prompt") {
                    let _ = s.write_all(b"Name: HAProxy\n\n").await;
                }
            }
        });
        let mut s = Session::default();
        for _ in 0..2 {
            assert_eq!(
                s.ask(&target(&api), "show info").await.expect("answer"),
                "Name: HAProxy\n\n"
            );
        }
        assert!(s.one_shot);
    }

    #[tokio::test]
    async fn a_dead_api_is_an_error_and_the_next_poll_connects_again() {
        let mut s = Session::default();
        let dead = RuntimeApi::Tcp("127.0.0.1:9".into());
        assert!(matches!(
            s.ask(&target(&dead), "show info").await,
            Err(SourceError::RuntimeConnect { .. })
        ));
        assert!(s.stream.is_none());
    }
}
