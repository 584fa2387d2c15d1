//! Credentials, gathered once before the console starts: keys (a passphrase is asked
//! once on the terminal and kept only in memory), an optional password, and ssh-agent
//! (used per connection when `SSH_AUTH_SOCK` is set).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::keys::{load_secret_key, Error as KeyError, PrivateKey};

use super::{KeyProblem, UnusableKey};
use crate::config::expand_home;

/// Keys tried when neither the profile nor ssh_config names one, as OpenSSH does.
const DEFAULT_KEYS: &[&str] = &["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"];

/// What lbdeck can authenticate with.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Decrypted private keys with the file they came from.
    pub keys: Vec<(PathBuf, Arc<PrivateKey>)>,
    /// A password typed at start-up.
    pub password: Option<String>,
    /// Try ssh-agent first.
    pub agent: bool,
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

impl Credentials {
    /// Loads the keys in `paths` (or OpenSSH's defaults when empty). Encrypted keys are
    /// unlocked by a passphrase typed on the terminal, once, when `prompt` allows; otherwise
    /// they are skipped with a note. `ask_password` prompts for a password too.
    pub fn load(paths: &[PathBuf], ask_password: bool, prompt: bool) -> Credentials {
        let interactive = prompt && std::io::stdin().is_terminal();
        let mut creds = Credentials {
            agent: std::env::var_os("SSH_AUTH_SOCK").is_some(),
            ..Credentials::default()
        };
        let mut candidates: Vec<PathBuf> = paths.to_vec();
        if candidates.is_empty() {
            candidates = DEFAULT_KEYS
                .iter()
                .map(|p| expand_home(p))
                .filter(|p| p.exists())
                .collect();
        }
        candidates.dedup();
        for path in candidates {
            match load_key(&path, interactive) {
                Ok(k) => creds.keys.push((path, Arc::new(k))),
                Err(why) => creds.notes.push(UnusableKey { path, why }),
            }
        }
        if ask_password && interactive {
            creds.password = rpassword::prompt_password("lbdeck: SSH password: ").ok();
        }
        creds
    }
}

fn load_key(path: &Path, interactive: bool) -> Result<PrivateKey, KeyProblem> {
    match load_secret_key(path, None) {
        Ok(k) => Ok(k),
        Err(KeyError::KeyIsEncrypted) if interactive => {
            let prompt = format!("lbdeck: passphrase for {}: ", path.display());
            let pass = rpassword::prompt_password(prompt)
                .map_err(|e| KeyProblem::NoPassphrase(e.to_string()))?;
            load_secret_key(path, Some(&pass)).map_err(|e| KeyProblem::Locked(e.to_string()))
        }
        Err(KeyError::KeyIsEncrypted) => Err(KeyProblem::NoTerminal),
        Err(KeyError::IO(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(KeyProblem::Missing)
        }
        Err(e) => Err(KeyProblem::Unreadable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_file_is_noted_as_missing() {
        let creds = Credentials::load(&[PathBuf::from("/nonexistent/id_lbdeck")], false, false);
        assert!(creds.keys.is_empty());
        assert_eq!(
            creds.notes,
            vec![UnusableKey {
                path: PathBuf::from("/nonexistent/id_lbdeck"),
                why: KeyProblem::Missing
            }]
        );
    }
}
