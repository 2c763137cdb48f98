//! `smtpscope completions SHELL` and `smtpscope man`: the shell's completion script and the
//! manual page, both generated from the one clap definition, so they never drift from the
//! flags.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::Exit;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> u8 {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "smtpscope", &mut out);
    print(&out)
}

/// Prints the manual page (roff): the command, then each subcommand with its flags.
pub fn man() -> u8 {
    let cmd = Cli::command();
    let mut out = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd.clone()).render(&mut out) {
        crate::errln!("smtpscope man: cannot render the manual page: {e}");
        return Exit::Error.code();
    }
    // One section per subcommand, so every flag is in the one page.
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let title = sub.get_name().to_ascii_uppercase();
        let sub = sub
            .clone()
            .bin_name(format!("smtpscope {}", sub.get_name()));
        let man = clap_mangen::Man::new(sub);
        let _ = writeln!(out, ".SH \"SMTPSCOPE {title}\"");
        for render in [
            clap_mangen::Man::render_description_section,
            clap_mangen::Man::render_synopsis_section,
            clap_mangen::Man::render_options_section,
            clap_mangen::Man::render_subcommands_section,
            clap_mangen::Man::render_extra_section,
        ] {
            let mut part = Vec::new();
            if render(&man, &mut part).is_ok() {
                // Sections of a subcommand become subsections of the one page.
                let text = String::from_utf8_lossy(&part).replace(".SH ", ".SS ");
                out.extend_from_slice(text.as_bytes());
            }
        }
    }
    print(&out)
}

/// Writes to standard output; a reader that went away (`| head`) is no error.
fn print(bytes: &[u8]) -> u8 {
    crate::terminal_text::write_stdout(&String::from_utf8_lossy(bytes));
    Exit::Ok.code()
}
