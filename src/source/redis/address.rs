//! The Redis URL: where and how to connect, and its secrets kept out of sight. Redacted for
//! logs and summaries, refused on a command line, scrubbed from the client library's errors.

/// The environment variables that carry a Redis URL, or its password alone.
pub const ENV_REDIS_URL: &str = "PARQUET_EXPORTER_REDIS_URL";
pub const ENV_REDIS_PASSWORD: &str = "PARQUET_EXPORTER_REDIS_PASSWORD";

/// Where and how to connect. The password comes from the URL or from `password` (an environment
/// variable), never from the command line.
#[derive(Clone)]
pub struct RedisAddress {
    pub url: String,
    pub password: Option<String>,
    /// PEM CA certificate(s) to trust for `rediss://` instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAddress")
            .field("url", &redact(&self.url))
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// Query keys of a Redis URL whose values are not secret (redis-rs reads `db`, `user` and
/// `protocol`; `pass`/`password` are secret, and anything else is hidden as it may be the tail
/// of a password that held a `&`).
const PLAIN_QUERY_KEYS: [&str; 3] = ["db", "user", "protocol"];
const SECRET_QUERY_KEYS: [&str; 2] = ["pass", "password"];

/// The URL with every secret hidden, safe for logs and summaries. It is parsed as redis-rs
/// parses it: the `user:password@` form has its password replaced, a `pass`/`password` query
/// value too, and query pairs other than the plain ones are collapsed into `***`. A URL that
/// does not parse is not shown at all, since where its password ends cannot be known.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "<a Redis URL that does not parse; not shown, as it may hold a password>".into();
    };
    if u.password().is_some() {
        // Fails only for URLs that cannot have credentials, which then had no password.
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().collect();
        let mut hidden = false;
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            if PLAIN_QUERY_KEYS.contains(&k.as_str()) {
                q.append_pair(k, v);
            } else if SECRET_QUERY_KEYS.contains(&k.as_str()) {
                q.append_pair(k, "***");
            } else {
                hidden = true;
            }
        }
        if hidden {
            q.append_key_only("***");
        }
        drop(q);
    }
    if u.fragment().is_some() {
        u.set_fragment(Some("***"));
    }
    u.to_string()
}

/// Why `url` may not be given on the command line, where every user can read it: it carries a
/// password, or it does not parse, so where a password in it would end cannot be told. The
/// message never quotes the URL.
pub fn refuse_on_command_line(url: &str) -> Option<String> {
    let why = if url::Url::parse(url).is_err() {
        "--redis-url is not a valid URL; it is not shown, since it may hold a password"
    } else if url_has_password(url) {
        "--redis-url must not carry a password (command lines are visible to every user)"
    } else {
        return None;
    };
    Some(format!(
        "{why}: set the URL in {ENV_REDIS_URL} or redis_url in the config file, or the password \
         alone in {ENV_REDIS_PASSWORD}"
    ))
}

/// Whether a URL may carry a password: one that parses with a password in it, or one that does
/// not parse (its password cannot be told apart).
pub fn url_has_password(url: &str) -> bool {
    match url::Url::parse(url) {
        Err(_) => true,
        Ok(u) => {
            u.password().is_some()
                || u.query_pairs()
                    .any(|(k, _)| SECRET_QUERY_KEYS.contains(&k.as_ref()))
        }
    }
}

impl RedisAddress {
    /// The passwords this target can send, as given and as redis-rs decodes them.
    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.password.iter().cloned().collect();
        if let Ok(u) = url::Url::parse(&self.url) {
            if let Some(p) = u.password() {
                out.push(p.to_string());
                if let Ok(decoded) = percent_encoding::percent_decode_str(p).decode_utf8() {
                    out.push(decoded.into_owned());
                }
            }
            for (k, v) in u.query_pairs() {
                if SECRET_QUERY_KEYS.contains(&k.as_ref()) {
                    out.push(v.into_owned());
                }
            }
        }
        // A secret of a character or two cannot be hidden in text without mangling it.
        out.retain(|s| s.len() >= 3);
        out
    }

    /// `text` with every secret of this target replaced by `***`: error messages from the
    /// client library are not ours to trust.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets() {
            out = out.replace(&s, "***");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords_only() {
        assert_eq!(
            redact("redis://:s3cret@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(redact("rediss://user:pw@h/1"), "rediss://user:***@h/1");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
        assert_eq!(
            redact("redis+unix:///tmp/r.sock?db=1&pass=pw"),
            "redis+unix:///tmp/r.sock?db=1&pass=***"
        );
        assert!(url_has_password("unix:///tmp/r.sock?pass=pw"));
        assert!(url_has_password("redis://:pw@h"));
        assert!(url_has_password("redis://u:pw@h"));
        assert!(!url_has_password("redis://u@h"));
        assert!(!url_has_password("redis://h:6379"));
        assert!(!url_has_password("unix:///tmp/r.sock?db=2"));
        let t = RedisAddress {
            url: "redis://:pw@h".into(),
            password: Some("x".into()),
            ca_file: None,
        };
        assert!(!format!("{t:?}").contains("pw"));
    }

    #[test]
    fn a_command_line_url_is_refused_with_the_right_reason() {
        let typo = refuse_on_command_line("redis://:Zq9/Wv7@host").unwrap();
        assert!(typo.starts_with("--redis-url is not a valid URL"), "{typo}");
        let pw = refuse_on_command_line("redis://:Zq9Wv7@host:6379").unwrap();
        assert!(
            pw.starts_with("--redis-url must not carry a password"),
            "{pw}"
        );
        for m in [typo, pw] {
            assert!(!m.contains("Zq9") && m.contains(ENV_REDIS_URL), "{m}");
        }
        assert_eq!(refuse_on_command_line("unix:///tmp/r.sock?db=2"), None);
    }

    #[test]
    fn tricky_passwords_never_show() {
        // Each URL holds the secret "Zq9" + a delimiter + "Wv7": neither half may show.
        for url in [
            "redis://:Zq9?Wv7@host:6379",
            "redis://:Zq9/Wv7@host:6379",
            "redis://:Zq9#Wv7@host:6379",
            "redis://:Zq9@Wv7@host:6379",
            "redis://u:Zq9%40Wv7@host:6379/1",
            "rediss://:Zq9:Wv7@host",
            "unix:///tmp/r.sock?pass=Zq9&Wv7",
            "unix:///tmp/r.sock?db=1&pass=Zq9&Wv7=1",
            "redis+unix:///tmp/r.sock?password=Zq9%26Wv7",
            "redis://:Zq9 Wv7@host",
        ] {
            let shown = redact(url);
            assert!(
                !shown.contains("Zq9") && !shown.contains("Wv7"),
                "{url} -> {shown}"
            );
            assert!(url_has_password(url), "{url} must be refused on argv");
        }
        let t = RedisAddress {
            url: "redis://u:Zq9%40Wv7@host".into(),
            password: Some("envSecret".into()),
            ca_file: None,
        };
        let msg = t.scrub("auth Zq9@Wv7 / Zq9%40Wv7 / envSecret failed");
        assert_eq!(msg, "auth *** / *** / *** failed");
    }
}
