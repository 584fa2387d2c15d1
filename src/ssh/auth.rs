//! Credentials, gathered once before the console starts: keys (a passphrase is asked
//! on the terminal, once per run, and kept only in memory; not at all when ssh-agent
//! holds the key), an optional password, and ssh-agent (asked for its keys on every
//! connection when `SSH_AUTH_SOCK` is set).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::{load_public_key, load_secret_key, Error as KeyError, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use super::{KeyProblem, UnusableKey};
use crate::config::expand_home;

/// Keys tried when neither the profile nor ssh_config names one, as OpenSSH does.
pub const DEFAULT_KEYS: &[&str] = &["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"];

/// Passphrase attempts per key, as OpenSSH allows.
const PASSPHRASE_TRIES: usize = 3;

/// What lbdeck can authenticate with.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Decrypted private keys with the file they came from.
    pub keys: Vec<(PathBuf, Arc<PrivateKey>)>,
    /// The public half of every key file that has one (from the key or its `.pub`):
    /// which agent identities `IdentitiesOnly` lets through.
    pub publics: Vec<(PathBuf, PublicKey)>,
    /// A password typed at start-up.
    pub password: Option<Zeroizing<String>>,
    /// ssh-agent's socket (`SSH_AUTH_SOCK`), asked first.
    pub agent: Option<PathBuf>,
    /// Keys that could not be used, and why (shown when authentication fails).
    pub notes: Vec<UnusableKey>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("keys", &self.keys.iter().map(|k| &k.0).collect::<Vec<_>>())
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("agent", &self.agent)
            .finish()
    }
}

/// Where secrets are read from: the terminal, or (in tests) a list of answers.
pub trait Prompt {
    /// Asks `question` with echo off; None when nothing can be read.
    fn secret(&mut self, question: &str) -> Option<Zeroizing<String>>;
}

/// The controlling terminal, echo off (rpassword reads /dev/tty).
struct Terminal;

impl Prompt for Terminal {
    fn secret(&mut self, question: &str) -> Option<Zeroizing<String>> {
        rpassword::prompt_password(question)
            .ok()
            .map(Zeroizing::new)
    }
}

impl Credentials {
    /// Loads the keys in `paths`, and OpenSSH's default keys when `defaults`. Encrypted
    /// keys are unlocked by a passphrase typed on the terminal (once per run, a few tries)
    /// when `prompt` allows and there is a terminal; otherwise they are skipped with a
    /// note. `ask_password` prompts for a password too.
    pub fn load(
        paths: &[PathBuf],
        defaults: bool,
        ask_password: bool,
        prompt: bool,
    ) -> Credentials {
        let terminal = prompt && std::io::stdin().is_terminal();
        let mut asker = terminal.then_some(Terminal);
        Credentials::load_with(
            paths,
            defaults,
            ask_password,
            asker.as_mut().map(|t| t as &mut dyn Prompt),
        )
    }

    /// As [`Credentials::load`], asking `prompt` (None: nothing can be asked).
    pub fn load_with(
        paths: &[PathBuf],
        defaults: bool,
        ask_password: bool,
        mut prompt: Option<&mut dyn Prompt>,
    ) -> Credentials {
        let mut creds = Credentials {
            agent: std::env::var_os("SSH_AUTH_SOCK")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            ..Credentials::default()
        };
        let mut candidates: Vec<PathBuf> = paths.to_vec();
        if defaults {
            candidates.extend(
                DEFAULT_KEYS
                    .iter()
                    .map(|p| expand_home(p))
                    .filter(|p| p.exists()),
            );
        }
        let mut seen = Vec::new();
        candidates.retain(|p| {
            let new = !seen.contains(p);
            seen.push(p.clone());
            new
        });
        let in_agent = creds.agent.as_deref().map(agent_keys).unwrap_or_default();
        for path in candidates {
            // A locked key whose public half ssh-agent holds is signed for by the agent,
            // as OpenSSH does: its passphrase is not asked.
            if let Some(public) = load_public_key(pub_file(&path))
                .ok()
                .filter(|k| k.to_bytes().is_ok_and(|b| in_agent.contains(&b)))
            {
                if load_secret_key(&path, None).is_err() {
                    creds.publics.push((path, public));
                    continue;
                }
            }
            match load_key(&path, prompt.as_deref_mut()) {
                Ok(k) => {
                    creds.publics.push((path.clone(), k.public_key().clone()));
                    creds.keys.push((path, Arc::new(k)));
                }
                Err(why) => {
                    if let Ok(public) = load_public_key(pub_file(&path)) {
                        creds.publics.push((path.clone(), public));
                    }
                    creds.notes.push(UnusableKey { path, why });
                }
            }
        }
        if ask_password {
            if let Some(p) = prompt {
                creds.password = p.secret("lbdeck: SSH password (asked once, kept in memory): ");
            }
        }
        creds
    }
}

/// Longest answer read from ssh-agent: a few hundred keys.
const AGENT_ANSWER_MAX: usize = 256 * 1024;

/// The key blobs ssh-agent at `socket` holds (empty when it cannot be asked): its
/// protocol's identities request, made before any async runtime may be running.
fn agent_keys(socket: &Path) -> Vec<Vec<u8>> {
    fn ask(socket: &Path) -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut agent = std::os::unix::net::UnixStream::connect(socket)?;
        agent.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        // SSH_AGENTC_REQUEST_IDENTITIES (11), length-prefixed.
        agent.write_all(&[0, 0, 0, 1, 11])?;
        let mut len = [0u8; 4];
        agent.read_exact(&mut len)?;
        let len = u32::from_be_bytes(len) as usize;
        if len > AGENT_ANSWER_MAX {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let mut answer = vec![0; len];
        agent.read_exact(&mut answer)?;
        Ok(answer)
    }
    ask(socket)
        .ok()
        .and_then(|a| identities(&a))
        .unwrap_or_default()
}

/// The key blobs of an SSH_AGENT_IDENTITIES_ANSWER (12): a count, then a blob and a
/// comment per key.
fn identities(answer: &[u8]) -> Option<Vec<Vec<u8>>> {
    fn string<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        let s = rest.get(4..4 + len)?;
        *rest = &rest[4 + len..];
        Some(s)
    }
    let (&kind, mut rest) = answer.split_first()?;
    if kind != 12 {
        return None;
    }
    let count = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    rest = &rest[4..];
    let mut blobs = Vec::new();
    for _ in 0..count {
        blobs.push(string(&mut rest)?.to_vec());
        string(&mut rest)?;
    }
    Some(blobs)
}

/// `key.pub` next to `key`.
fn pub_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

fn load_key(path: &Path, prompt: Option<&mut (dyn Prompt + '_)>) -> Result<PrivateKey, KeyProblem> {
    match load_secret_key(path, None) {
        Ok(k) => Ok(k),
        Err(KeyError::KeyIsEncrypted) => match prompt {
            Some(prompt) => unlock(path, prompt),
            None => Err(KeyProblem::NoTerminal),
        },
        Err(KeyError::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(KeyProblem::Missing)
        }
        Err(e) => Err(KeyProblem::Unreadable(e.to_string())),
    }
}

/// Asks for `path`'s passphrase until it unlocks the key, a few times at most; an empty
/// answer leaves the key locked, as OpenSSH does.
fn unlock(path: &Path, prompt: &mut (dyn Prompt + '_)) -> Result<PrivateKey, KeyProblem> {
    let mut question = format!(
        "lbdeck: passphrase for {} (asked once, kept in memory): ",
        path.display()
    );
    for _ in 0..PASSPHRASE_TRIES {
        let pass = prompt
            .secret(&question)
            .ok_or_else(|| KeyProblem::NoPassphrase("the terminal cannot be read".into()))?;
        if pass.is_empty() {
            return Err(KeyProblem::Skipped);
        }
        if let Ok(key) = load_secret_key(path, Some(&pass)) {
            return Ok(key);
        }
        question = format!(
            "lbdeck: wrong passphrase, try again for {}: ",
            path.display()
        );
    }
    Err(KeyProblem::WrongPassphrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test key encrypted with the passphrase below (ssh-keygen -t ed25519 -N).
    const LOCKED: &str = "tests/fixtures/ssh/id_locked";
    const PASSPHRASE: &str = "fixture passphrase";

    /// Answers from a list, and remembers the questions.
    struct Answers(Vec<&'static str>, Vec<String>);

    impl Prompt for Answers {
        fn secret(&mut self, question: &str) -> Option<Zeroizing<String>> {
            self.1.push(question.to_string());
            (!self.0.is_empty()).then(|| Zeroizing::new(self.0.remove(0).to_string()))
        }
    }

    fn load(answers: Vec<&'static str>, password: bool) -> (Credentials, Vec<String>) {
        let mut a = Answers(answers, Vec::new());
        let creds = Credentials::load_with(&[PathBuf::from(LOCKED)], false, password, Some(&mut a));
        (creds, a.1)
    }

    #[test]
    fn the_agents_answer_gives_its_key_blobs() {
        let mut answer = vec![12, 0, 0, 0, 2];
        for (blob, comment) in [(&b"key-one"[..], &b"me@a"[..]), (b"k2", b"")] {
            answer.extend_from_slice(&(blob.len() as u32).to_be_bytes());
            answer.extend_from_slice(blob);
            answer.extend_from_slice(&(comment.len() as u32).to_be_bytes());
            answer.extend_from_slice(comment);
        }
        assert_eq!(
            identities(&answer),
            Some(vec![b"key-one".to_vec(), b"k2".to_vec()])
        );
        assert_eq!(identities(&answer[..answer.len() - 1]), None, "cut short");
        assert_eq!(identities(&[5]), None, "a failure answer");
        assert!(agent_keys(Path::new("/nonexistent/agent.sock")).is_empty());
    }

    #[test]
    fn a_missing_key_file_is_noted_as_missing() {
        let creds = Credentials::load_with(
            &[PathBuf::from("/nonexistent/id_lbdeck")],
            false,
            false,
            None,
        );
        assert!(creds.keys.is_empty());
        assert_eq!(
            creds.notes,
            vec![UnusableKey {
                path: PathBuf::from("/nonexistent/id_lbdeck"),
                why: KeyProblem::Missing
            }]
        );
    }

    #[test]
    fn the_passphrase_unlocks_the_key_after_a_wrong_one_and_the_password_is_asked_once() {
        let (creds, asked) = load(vec!["not it", PASSPHRASE, "pw"], true);
        assert_eq!(creds.keys.len(), 1, "{:?}", creds.notes);
        assert!(creds.notes.is_empty());
        assert_eq!(creds.password.as_deref().map(String::as_str), Some("pw"));
        assert_eq!(
            asked,
            vec![
                format!("lbdeck: passphrase for {LOCKED} (asked once, kept in memory): "),
                format!("lbdeck: wrong passphrase, try again for {LOCKED}: "),
                "lbdeck: SSH password (asked once, kept in memory): ".to_string(),
            ]
        );
        assert!(!format!("{creds:?}").contains("pw\""), "{creds:?}");
    }

    #[test]
    fn three_wrong_passphrases_leave_the_key_locked_with_its_public_half_known() {
        let (creds, asked) = load(vec!["a", "b", "c", "never asked"], false);
        assert!(creds.keys.is_empty());
        assert_eq!(asked.len(), 3);
        assert_eq!(
            creds.notes,
            vec![UnusableKey {
                path: PathBuf::from(LOCKED),
                why: KeyProblem::WrongPassphrase
            }]
        );
        assert_eq!(creds.publics.len(), 1, "from {LOCKED}.pub");
        let (skipped, _) = load(vec![""], false);
        assert_eq!(skipped.notes[0].why, KeyProblem::Skipped);
        let none = Credentials::load_with(&[PathBuf::from(LOCKED)], false, true, None);
        assert_eq!(none.notes[0].why, KeyProblem::NoTerminal);
        assert!(none.password.is_none());
    }
}
