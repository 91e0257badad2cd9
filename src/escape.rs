//! Untrusted text (hosts, record ids, stream keys, paths, error messages) made safe to render:
//! in markdown it can neither start a line, a table cell or a heading nor format itself, and
//! everywhere it shows control characters as escapes and is cut to a sane length.

/// Characters of untrusted text shown at most, in one place of a summary.
pub const MAX_CHARS: usize = 200;

/// Characters that can reorder or hide text on screen (bidi overrides and isolates, line and
/// paragraph separators) besides the C0/C1 controls.
fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `s` with control characters as `\u{..}` escapes, cut to `max` characters with a marker
/// saying how many were left out.
fn visible(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i >= max {
            let rest = s.chars().count() - i;
            out.push_str(&format!("… ({rest} more characters)"));
            break;
        }
        if is_invisible_control(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// Untrusted text for a terminal or a log line: control characters escaped, length capped.
pub fn plain(s: &str) -> String {
    visible(s, MAX_CHARS)
}

/// Characters of a whole line of our own wording that quotes untrusted parts (each already
/// capped where it was quoted), such as a reason of the verification report.
pub const LINE_CHARS: usize = 2_000;

/// `plain` for such a line: control characters escaped, cut only past `LINE_CHARS`.
pub fn plain_line(s: &str) -> String {
    visible(s, LINE_CHARS)
}

/// Untrusted text as markdown inline text, also safe inside a table cell: every character that
/// markdown could read as formatting, a link, HTML or a cell border is backslash-escaped.
pub fn md_text(s: &str) -> String {
    let mut out = String::new();
    for c in visible(s, MAX_CHARS).chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '#' | '!' | '&' | '$'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Untrusted text as a markdown code span, safe inside a table cell: readable as typed (paths,
/// ids, hosts), with a fence longer than any run of backticks inside it, and pipes escaped
/// (GitHub-flavoured tables honour `\|` even in code spans).
pub fn md_code(s: &str) -> String {
    let body = visible(s, MAX_CHARS).replace('|', "\\|");
    let longest_run = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    // A span that starts or ends with a backtick needs a space to keep it off the fence.
    let pad = if body.starts_with('`') || body.ends_with('`') || body.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// Markdown of this crate's own making (`md_text`, `md_code`, our backticked commands) as a
/// terminal shows it: backslash escapes and code fences taken away, so that a reason reads
/// `run_parquet_exporter.sh`, not `run\_parquet\_exporter.sh`. Control characters stay escaped.
pub fn md_to_plain(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            // Our own bold (`**not loaded**`): untrusted asterisks are escaped, so these are ours.
            '*' if chars.get(i + 1) == Some(&'*') => i += 2,
            '`' => {
                let fence = chars[i..].iter().take_while(|&&c| c == '`').count();
                match closing_fence(&chars, i + fence, fence) {
                    Some(end) => {
                        let body: String = chars[i + fence..end].iter().collect();
                        let body = match body.strip_prefix(' ').and_then(|b| b.strip_suffix(' ')) {
                            Some(inner) if !inner.is_empty() => inner.to_string(),
                            _ => body,
                        };
                        out.push_str(&body.replace("\\|", "|"));
                        i = end + fence;
                    }
                    None => {
                        out.extend(&chars[i..i + fence]);
                        i += fence;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Where a run of exactly `len` backticks starts, at or after `from`.
fn closing_fence(chars: &[char], from: usize, len: usize) -> Option<usize> {
    let mut i = from;
    while i < chars.len() {
        if chars[i] != '`' {
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&c| c == '`').count();
        if run == len {
            return Some(i);
        }
        i += run;
    }
    None
}

/// At most `max` items as code spans, joined, with how many more there were.
pub fn md_code_list<'a>(items: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let mut shown = Vec::new();
    let mut more = 0;
    for item in items {
        if shown.len() < max {
            shown.push(md_code(item));
        } else {
            more += 1;
        }
    }
    let mut out = shown.join(", ");
    if more > 0 {
        out.push_str(&format!(" and {more} more"));
    }
    out
}

/// Why `s` cannot be written into a systemd unit at all: a control character (a newline would
/// end the setting and start another, such as `ExecStartPre=`). `None` when it can.
fn unit_refusal(s: &str) -> Option<String> {
    let c = s.chars().find(|c| c.is_control())?;
    Some(format!(
        "contains a control character ({}), which a systemd unit cannot hold",
        c.escape_unicode()
    ))
}

/// `s` with `%` doubled: systemd expands `%h`, `%t`, … (specifiers) in these settings.
fn no_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// `s` in double quotes, with `\` and `"` backslash-escaped: systemd unquotes and C-unescapes
/// `ExecStart=` words and `Environment=` assignments alike.
fn unit_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `s` as one word of a systemd command line (`ExecStart=`, systemd.service(5) "Command
/// lines"): quoted, escaped, `%` as `%%` and `$` as `$$` (systemd substitutes `$NAME` when it
/// runs the command), so the program receives `s` exactly. Err: why it cannot be.
pub fn systemd_arg(s: &str) -> Result<String, String> {
    match unit_refusal(s) {
        Some(why) => Err(why),
        None => Ok(unit_quoted(&no_specifiers(s).replace('$', "$$"))),
    }
}

/// `name=value` as the value of systemd's `Environment=` (systemd.exec(5)): one quoted
/// assignment, escaped, `%` as `%%` (`$` is not expanded there). Err: why it cannot be.
pub fn systemd_env(name: &str, value: &str) -> Result<String, String> {
    match unit_refusal(value) {
        Some(why) => Err(why),
        None => Ok(unit_quoted(&no_specifiers(&format!("{name}={value}")))),
    }
}

/// An absolute path as the value of a systemd path setting such as `WorkingDirectory=`, which
/// takes no quotes (spaces inside are kept as they are) but does expand specifiers (`%` as
/// `%%`). The unit parser trims a value's ends and reads a trailing `\` as a line continuation,
/// and a leading `-` or `~` would change the setting's meaning: such a path is refused.
pub fn systemd_path(s: &str) -> Result<String, String> {
    if let Some(why) = unit_refusal(s) {
        return Err(why);
    }
    if !s.starts_with('/') {
        return Err("is not an absolute path, which systemd needs here".into());
    }
    if s.ends_with(char::is_whitespace) || s.ends_with('\\') {
        return Err("ends with a space or a backslash, which a systemd unit would drop".into());
    }
    Ok(no_specifiers(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_markdown_reads_as_typed_in_a_terminal() {
        for typed in [
            "run_parquet_exporter.sh",
            "a|b",
            "`tick`",
            "x ``y`` z",
            "*[a](b)* \\ #1",
        ] {
            assert_eq!(md_to_plain(&md_text(typed)), typed);
            assert_eq!(md_to_plain(&md_code(typed)), typed);
        }
        assert_eq!(
            md_to_plain("no timer; `parquet-exporter systemd install`"),
            "no timer; parquet-exporter systemd install"
        );
        assert_eq!(md_to_plain("a lone ` stays"), "a lone ` stays");
        assert_eq!(
            md_to_plain("**not loaded**: ops_atomic_*.parquet"),
            "not loaded: ops_atomic_*.parquet"
        );
    }

    #[test]
    fn controls_never_pass_and_length_is_capped() {
        let forged = "x\n\n**Verdict:** ✅ success\r\u{0}\u{1b}[31m\u{202e}";
        for out in [plain(forged), md_text(forged), md_code(forged)] {
            assert!(!out.chars().any(is_invisible_control), "{out:?}");
        }
        let long = "h".repeat(1_000_000);
        let out = md_code(&long);
        assert!(out.len() < MAX_CHARS + 100, "{}", out.len());
        assert!(out.contains("… (999800 more characters)"), "{out}");
    }

    #[test]
    fn markdown_cannot_escape_its_place() {
        assert_eq!(md_text("a|b*c*"), "a\\|b\\*c\\*");
        assert_eq!(md_text("[x](http://e)"), "\\[x\\](http://e)");
        assert_eq!(
            md_code("/out/ops_atomic_1.parquet"),
            "`/out/ops_atomic_1.parquet`"
        );
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("``x``|"), "``` ``x``\\| ```");
        assert_eq!(md_code(""), "`  `");
        assert_eq!(md_code_list(["a", "b", "c"], 2), "`a`, `b` and 1 more");
    }

    #[test]
    fn systemd_words_come_back_literal() {
        assert_eq!(systemd_arg("/a b/x").unwrap(), r#""/a b/x""#);
        assert_eq!(
            systemd_arg(r#"/J %h "q" \ 100% $HOME"#).unwrap(),
            r#""/J %%h \"q\" \\ 100%% $$HOME""#
        );
        assert_eq!(
            systemd_env("HOME", r#"/J %t "q" \ $HOME"#).unwrap(),
            r#""HOME=/J %%t \"q\" \\ $HOME""#
        );
        assert_eq!(systemd_path("/J %h Smith").unwrap(), "/J %%h Smith");
        assert_eq!(systemd_path(r"/a\b").unwrap(), r"/a\b");
    }

    #[test]
    fn systemd_refuses_what_a_unit_cannot_hold() {
        for bad in ["/a\nExecStartPre=/bin/evil", "/a\r", "/a\u{0}", "/a\u{85}"] {
            let why = systemd_arg(bad).unwrap_err();
            assert!(why.contains("control character"), "{why}");
            assert!(!why.contains('\n'), "one line: {why}");
            assert!(systemd_env("HOME", bad).is_err());
            assert!(systemd_path(bad).is_err());
        }
        for bad in ["relative", "/trailing ", r"/trailing\", "-/x", "~/x"] {
            assert!(systemd_path(bad).is_err(), "{bad}");
        }
    }
}
