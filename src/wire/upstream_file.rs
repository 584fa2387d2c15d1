//! Where an nginx upstream is defined on a node, and reading it over SSH: the file the
//! profile names, else the one `nginx -T` shows. Shared by the follower in `sources` and
//! the edits in `ops`.

use super::upstream;
use crate::ssh::{NodeAddr, Pool};

/// Where an nginx upstream was found on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The file that defines it.
    pub file: String,
    /// That file's text when it was read.
    pub text: String,
    /// Found through `nginx -T` (the file looked in first does not define it).
    pub through_dump: bool,
}

/// Why the file that defines an upstream was not found or not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// Neither the file looked in first nor `nginx -T` shows the upstream.
    #[error("upstream {upstream}: not in {file} ({why}), and nginx -T: {dump}")]
    NotFound {
        /// The upstream looked for.
        upstream: String,
        /// The file looked in first.
        file: String,
        /// Why that file would not do.
        why: String,
        /// What `nginx -T` gave.
        dump: String,
    },
    /// A file could not be read over SSH.
    #[error("{0}")]
    Read(String),
}

/// A file's text on a node (through `sudo -n` when the profile says so).
pub async fn read(pool: &Pool, node: &NodeAddr, file: &str) -> Result<String, LocateError> {
    let cmd = pool.privileged(&format!("cat {}", crate::ssh::shell_quote(file)));
    pool.exec(node, &cmd)
        .await
        .and_then(|o| o.ok(&format!("reading {file}")))
        .map_err(|e| LocateError::Read(e.to_string()))
}

/// Finds the file that defines `upstream` on a node: `first` when it does, else the file
/// `nginx -T` shows defining it (an `include`d one, or nginx.conf itself).
pub async fn locate(
    pool: &Pool,
    node: &NodeAddr,
    first: &str,
    upstream: &str,
) -> Result<Located, LocateError> {
    let why = match read(pool, node, first).await {
        Ok(text) if upstream::defines(&text, upstream) => {
            return Ok(Located {
                file: first.to_string(),
                text,
                through_dump: false,
            })
        }
        Ok(_) => upstream::UpstreamError::NoBlock(upstream.into()).to_string(),
        Err(e) => e.to_string(),
    };
    let not_found = |dump: String| LocateError::NotFound {
        upstream: upstream.into(),
        file: first.into(),
        why: why.clone(),
        dump,
    };
    let dump = pool
        .exec(node, &pool.privileged("nginx -T"))
        .await
        .and_then(|o| o.ok("nginx -T"))
        .map_err(|e| not_found(e.to_string()))?;
    let file = upstream::file_defining(&dump, upstream).map_err(|e| not_found(e.to_string()))?;
    let text = read(pool, node, &file).await?;
    Ok(Located {
        file,
        text,
        through_dump: true,
    })
}
