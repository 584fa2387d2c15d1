//! Block-structured configuration as nginx and keepalived write it: directives made of
//! words, some opening a `{ … }` block. nginx ends a directive with `;`, keepalived with
//! the end of the line. Each directive keeps the file and line it came from, so what
//! `init` writes into a profile can say where it was found.

/// One directive: its words, where it is, and its block when it opens one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The directive's words, quotes removed (`server`, `10.0.0.21:80`, `weight=3`).
    pub words: Vec<String>,
    /// The file it is in.
    pub file: String,
    /// Its line (1-based).
    pub line: usize,
    /// The directives inside its `{ … }`, when it opens a block.
    pub block: Option<Vec<Directive>>,
}

impl Directive {
    /// The directive's name (its first word).
    pub fn name(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// Its `n`th argument (after the name).
    pub fn arg(&self, n: usize) -> Option<&str> {
        self.words.get(n + 1).map(String::as_str)
    }

    /// `file:line`, for the comments `init` writes.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }

    /// The directives of its block (none when it opens no block).
    pub fn children(&self) -> &[Directive] {
        self.block.as_deref().unwrap_or(&[])
    }

    /// Its block's directives named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Directive> + 'a {
        self.children().iter().filter(move |d| d.name() == name)
    }

    /// Its block's first directive named `name`.
    pub fn first(&self, name: &str) -> Option<&Directive> {
        self.children().iter().find(|d| d.name() == name)
    }
}

/// How directives end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// nginx: at `;`; comments start with `#`; words may be quoted.
    Nginx,
    /// keepalived: at the end of the line; comments start with `#` or `!`.
    Keepalived,
}

/// Why a file could not be read as blocks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {what}")]
pub struct ConfError {
    /// The file.
    pub file: String,
    /// The line.
    pub line: usize,
    /// What was expected.
    pub what: String,
}

/// Every directive everywhere in `roots`, blocks included, depth first.
pub fn walk(roots: &[Directive]) -> Vec<&Directive> {
    let mut out = Vec::new();
    let mut stack: Vec<&Directive> = roots.iter().rev().collect();
    while let Some(d) = stack.pop() {
        out.push(d);
        stack.extend(d.children().iter().rev());
    }
    out
}

/// Reads `text` (the file `file`) as directives.
pub fn parse(text: &str, file: &str, style: Style) -> Result<Vec<Directive>, ConfError> {
    let mut open: Vec<Directive> = Vec::new();
    let mut done: Vec<Directive> = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start = 0;
    let err = |line: usize, what: &str| ConfError {
        file: file.to_string(),
        line,
        what: what.to_string(),
    };
    let push = |d: Directive, open: &mut Vec<Directive>, done: &mut Vec<Directive>| match open
        .last_mut()
    {
        Some(parent) => parent.block.get_or_insert_with(Vec::new).push(d),
        None => done.push(d),
    };
    // The words gathered so far, as the directive that began on line `start`.
    let directive = |words: &mut Vec<String>, start: usize| Directive {
        words: std::mem::take(words),
        file: file.to_string(),
        line: start,
        block: None,
    };
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let mut chars = raw.chars().peekable();
        let mut word = String::new();
        let mut quoted = false;
        let flush = |word: &mut String, quoted: &mut bool, words: &mut Vec<String>| {
            if !word.is_empty() || *quoted {
                words.push(std::mem::take(word));
            }
            *quoted = false;
        };
        while let Some(c) = chars.next() {
            match c {
                '#' => break,
                '!' if style == Style::Keepalived && word.is_empty() => break,
                '"' | '\'' => {
                    quoted = true;
                    let mut closed = false;
                    while let Some(q) = chars.next() {
                        if q == c {
                            closed = true;
                            break;
                        }
                        if q == '\\' {
                            if let Some(e) = chars.next() {
                                word.push(e);
                            }
                        } else {
                            word.push(q);
                        }
                    }
                    if !closed {
                        // A quoted word may run over lines in nginx; init reads the
                        // directives it needs on one line, so the rest of this one is
                        // the word.
                        flush(&mut word, &mut quoted, &mut words);
                    }
                }
                c if c.is_whitespace() => flush(&mut word, &mut quoted, &mut words),
                ';' if style == Style::Nginx => {
                    flush(&mut word, &mut quoted, &mut words);
                    if !words.is_empty() {
                        let d = directive(&mut words, start);
                        push(d, &mut open, &mut done);
                    }
                }
                '{' => {
                    flush(&mut word, &mut quoted, &mut words);
                    let d = if words.is_empty() {
                        // keepalived allows the `{` on the line after its directive.
                        match open
                            .last_mut()
                            .and_then(|p| p.block.as_mut()?.pop())
                            .or_else(|| if open.is_empty() { done.pop() } else { None })
                        {
                            Some(prev) => prev,
                            None => return Err(err(line, "a `{` with no directive before it")),
                        }
                    } else {
                        directive(&mut words, start)
                    };
                    open.push(Directive {
                        block: Some(d.block.unwrap_or_default()),
                        ..d
                    });
                }
                '}' => {
                    flush(&mut word, &mut quoted, &mut words);
                    if !words.is_empty() {
                        if style == Style::Nginx {
                            return Err(err(line, "`;` before `}`"));
                        }
                        let d = directive(&mut words, start);
                        push(d, &mut open, &mut done);
                    }
                    let Some(closed) = open.pop() else {
                        return Err(err(line, "a `}` closing no block"));
                    };
                    push(closed, &mut open, &mut done);
                }
                c => {
                    if words.is_empty() && word.is_empty() {
                        start = line;
                    }
                    word.push(c);
                }
            }
        }
        flush(&mut word, &mut quoted, &mut words);
        if style == Style::Keepalived && !words.is_empty() {
            let d = directive(&mut words, start);
            push(d, &mut open, &mut done);
        }
    }
    if !words.is_empty() {
        return Err(err(start, "`;` at the end of the directive"));
    }
    if let Some(d) = open.last() {
        return Err(err(
            d.line,
            &format!("a `}}` closing `{}`", d.words.join(" ")),
        ));
    }
    Ok(done)
}

/// The files of an `nginx -T` dump: each `# configuration file PATH:` header and the text
/// after it.
pub fn nginx_dump_files(dump: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    for line in dump.lines() {
        if let Some(path) = line
            .strip_prefix("# configuration file ")
            .and_then(|r| r.strip_suffix(':'))
        {
            files.push((path.to_string(), String::new()));
        } else if let Some((_, text)) = files.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_blocks_keep_their_lines() {
        let text = "http {\n  upstream be { server 10.0.0.1:80 weight=3;\n server \"b:80\"; }\n}\n";
        let d = parse(text, "/etc/nginx/nginx.conf", Style::Nginx).expect("parses");
        assert_eq!(d.len(), 1);
        let up = d[0].first("upstream").expect("upstream");
        assert_eq!((up.arg(0), up.line), (Some("be"), 2));
        let servers: Vec<_> = up
            .all("server")
            .map(|s| (s.words.clone(), s.line))
            .collect();
        assert_eq!(
            servers,
            vec![
                (
                    vec!["server".into(), "10.0.0.1:80".into(), "weight=3".into()],
                    2
                ),
                (vec!["server".into(), "b:80".into()], 3)
            ]
        );
        assert_eq!(
            up.all("server").nth(1).map(Directive::at),
            Some("/etc/nginx/nginx.conf:3".into())
        );
    }

    #[test]
    fn keepalived_lines_end_directives_and_braces_may_follow() {
        let text = "! Configuration\nvrrp_instance VI_1\n{\n  state BACKUP # comment\n  virtual_ipaddress {\n    10.0.0.100/24 dev eth0\n  }\n  track_file {\n    maint weight 2\n  }\n}\n";
        let d = parse(text, "k.conf", Style::Keepalived).expect("parses");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].words, vec!["vrrp_instance", "VI_1"]);
        assert_eq!(d[0].first("state").and_then(|s| s.arg(0)), Some("BACKUP"));
        let vip = d[0].first("virtual_ipaddress").expect("vips");
        assert_eq!(
            vip.children()[0].words,
            vec!["10.0.0.100/24", "dev", "eth0"]
        );
        assert_eq!(vip.children()[0].line, 6);
        let tf = d[0].first("track_file").expect("track");
        assert_eq!(tf.children()[0].words, vec!["maint", "weight", "2"]);
    }

    #[test]
    fn unbalanced_braces_name_the_line() {
        let e = parse("a {\n b;\n", "f.conf", Style::Nginx).expect_err("unclosed");
        assert_eq!(e.to_string(), "f.conf:1: a `}` closing `a`");
        let e = parse("}\n", "f.conf", Style::Keepalived).expect_err("stray");
        assert_eq!(e.to_string(), "f.conf:1: a `}` closing no block");
        let e = parse("server x\n", "f.conf", Style::Nginx).expect_err("no ;");
        assert_eq!(e.to_string(), "f.conf:1: `;` at the end of the directive");
    }

    #[test]
    fn an_nginx_dump_splits_into_its_files() {
        let dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n# configuration file /etc/nginx/nginx.conf:\nhttp { include /etc/nginx/conf.d/*.conf; }\n\n# configuration file /etc/nginx/conf.d/up.conf:\nupstream be { server a:80; }\n";
        let files = nginx_dump_files(dump);
        assert_eq!(files.len(), 2);
        assert_eq!(files[1].0, "/etc/nginx/conf.d/up.conf");
        assert_eq!(files[1].1, "upstream be { server a:80; }\n");
        assert_eq!(
            walk(&parse(&files[0].1, &files[0].0, Style::Nginx).expect("ok")).len(),
            2
        );
    }
}
