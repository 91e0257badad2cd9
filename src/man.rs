//! The man page: one page, parquet-exporter(1), that holds every subcommand with its own
//! options, the exit status as a table and the environment, instead of clap_mangen's default
//! page that points at per-subcommand pages nobody installs.

use std::io::Write;

use clap::Command;
use clap_mangen::Man;

/// Escapes text for a roff line: backslashes, and a leading `.` or `'` that roff would take
/// for a request.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// A clap_mangen section without its `.SH` heading, so that it can sit under ours.
fn body(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> std::io::Result<String> {
    let mut buf = Vec::new();
    render(&mut buf)?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    Ok(text
        .lines()
        .filter(|l| !l.starts_with(".SH "))
        .map(|l| format!("{l}\n"))
        .collect())
}

/// The exit-status table and the environment paragraph out of `cli::EXIT_CODES` (the
/// `--help` text, the one place they are written): each `  N  text` line, with the lines
/// indented under it, is one row; other lines are paragraphs.
fn after_help_sections(text: &str) -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    let (codes, environment) = text.split_once("\nEnvironment:").unwrap_or((text, ""));
    let mut para = String::new();
    let flush = |para: &mut String, out: &mut String| {
        if !para.is_empty() {
            out.push_str(&format!(".PP\n{}\n", roff_text(para.trim())));
            para.clear();
        }
    };
    for line in codes.lines().skip(1) {
        let row = line
            .strip_prefix("  ")
            .and_then(|l| l.split_once("  "))
            .filter(|(code, _)| code.len() == 1 && code.chars().all(|c| c.is_ascii_digit()));
        if let Some((code, what)) = row {
            flush(&mut para, &mut out);
            out.push_str(&format!(".TP 4\n.B {code}\n{}\n", roff_text(what)));
        } else if let Some(more) = line.strip_prefix("     ") {
            out.push_str(&format!("{}\n", roff_text(more)));
        } else {
            if para.is_empty() {
                // A paragraph after the table starts at the margin again.
                out.push_str(".RE\n");
            }
            para.push_str(line);
            para.push(' ');
        }
    }
    flush(&mut para, &mut out);
    out.push_str(".SH ENVIRONMENT\n");
    out.push_str(&format!(
        ".PP\n{}\n",
        roff_text(&environment.split_whitespace().collect::<Vec<_>>().join(" "))
    ));
    out
}

/// Writes the whole page for `cmd` (the `Cli` command).
pub fn render(cmd: Command, after_help: &str, w: &mut dyn Write) -> std::io::Result<()> {
    let man = Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    writeln!(w, ".SH COMMANDS")?;
    let name = cmd.get_name().to_string();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let full = format!("{name} {}", sub.get_name());
        let sub = sub.clone().bin_name(full.clone());
        writeln!(w, ".SS \"{}\"", roff_text(&full))?;
        let about = sub
            .get_long_about()
            .or(sub.get_about())
            .map(|a| a.to_string())
            .unwrap_or_default();
        for para in about.split("\n\n") {
            writeln!(w, ".PP\n{}", roff_text(&para.replace('\n', " ")))?;
        }
        let sub_man = Man::new(sub.clone());
        write!(w, ".PP\n{}", body(|b| sub_man.render_synopsis_section(b))?)?;
        if sub.get_arguments().any(|a| !a.is_hide_set()) {
            write!(w, "{}", body(|b| sub_man.render_options_section(b))?)?;
        }
    }
    write!(w, "{}", after_help_sections(after_help))?;
    man.render_version_section(w)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_become_one_row_each_and_text_stays_text() {
        let text = "Exit status:\n  0  ok\n  1  failed: an error\n     and more\nWith several days.\n\nEnvironment: A and\nB.";
        let roff = after_help_sections(text);
        assert!(roff.contains(".TP 4\n.B 0\nok\n"), "{roff}");
        assert!(
            roff.contains(".TP 4\n.B 1\nfailed: an error\nand more\n"),
            "{roff}"
        );
        assert!(roff.contains(".RE\n.PP\nWith several days.\n"), "{roff}");
        assert!(roff.contains(".SH ENVIRONMENT\n.PP\nA and B.\n"), "{roff}");
        assert_eq!(roff_text(".x-y\\"), "\\&.x\\-y\\e");
    }
}
