//! Advice names the control that changes a setting in the words of the front end in use: a
//! flag on the command line, a key or a profile field in the explorer. The layers below the
//! front ends say *which* control helps ([`Control`]); the [`FrontEnd`] in the connection
//! options says how to name it, so the explorer never tells anyone to type `--insecure`.

/// Who reads the advice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FrontEnd {
    /// `check`, `session`: flags.
    #[default]
    Cli,
    /// The explorer: keys (F2…F7) and profile fields (edited with `e`).
    Tui,
}

/// A setting an operator can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Trust a private CA.
    CaFile,
    /// Verify the certificate against another name.
    TlsName,
    /// Accept a certificate that fails verification (recording why).
    Insecure,
    /// Start in plaintext and upgrade with STARTTLS.
    Starttls,
    /// TLS from the first byte (ports 465, …).
    ImplicitTls,
    /// Credentials to log in with.
    Auth,
    /// Send the test message after an accepted RCPT.
    SendData,
    /// A profile setting that also has a flag: `(profile key, flag)`, e.g.
    /// `("[relay] local_recipient", "--local-recipient")`.
    Setting(&'static str, &'static str),
}

impl FrontEnd {
    /// How this front end names `c`.
    pub fn name(self, c: Control) -> String {
        match (self, c) {
            (FrontEnd::Cli, Control::CaFile) => "--ca-file".into(),
            (FrontEnd::Cli, Control::TlsName) => "--tls-name".into(),
            (FrontEnd::Cli, Control::Insecure) => "--insecure".into(),
            (FrontEnd::Cli, Control::Starttls) => "--tls starttls".into(),
            (FrontEnd::Cli, Control::ImplicitTls) => "--tls implicit".into(),
            (FrontEnd::Cli, Control::Auth) => "[auth] in the profile, or --auth and --user".into(),
            (FrontEnd::Cli, Control::SendData) => "--send-data".into(),
            (FrontEnd::Cli, Control::Setting(key, flag)) => format!("{key} (or {flag})"),
            (FrontEnd::Tui, Control::CaFile) => "ca_file in the profile (e)".into(),
            (FrontEnd::Tui, Control::TlsName) => "tls_name in the profile (e)".into(),
            (FrontEnd::Tui, Control::Insecure) => "F4 (verification: insecure)".into(),
            (FrontEnd::Tui, Control::Starttls) => "F2 (TLS mode: starttls)".into(),
            (FrontEnd::Tui, Control::ImplicitTls) => "F2 (TLS mode: implicit)".into(),
            (FrontEnd::Tui, Control::Auth) => "[auth] in the profile (e), then F5".into(),
            (FrontEnd::Tui, Control::SendData) => "F7 (send data)".into(),
            (FrontEnd::Tui, Control::Setting(key, _)) => format!("{key} in the profile (e)"),
        }
    }

    /// Several controls as alternatives: "A", "A or B", "A, B, or C".
    pub fn any_of(self, controls: &[Control]) -> String {
        let names: Vec<String> = controls.iter().map(|c| self.name(*c)).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => one.clone(),
            [a, b] => format!("{a} or {b}"),
            [rest @ .., last] => format!("{}, or {last}", rest.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_front_end_names_its_own_controls() {
        let trust = [Control::CaFile, Control::TlsName, Control::Insecure];
        assert_eq!(
            FrontEnd::Cli.any_of(&trust),
            "--ca-file, --tls-name, or --insecure"
        );
        let tui = FrontEnd::Tui.any_of(&trust);
        assert!(tui.contains("F4"), "{tui}");
        assert!(!tui.contains("--"), "no flag in the explorer: {tui}");
        assert_eq!(
            FrontEnd::Tui.any_of(&[Control::Starttls]),
            "F2 (TLS mode: starttls)"
        );
        let setting = Control::Setting("[relay] local_recipient", "--local-recipient");
        assert_eq!(
            FrontEnd::Cli.name(setting),
            "[relay] local_recipient (or --local-recipient)"
        );
        assert_eq!(
            FrontEnd::Tui.name(setting),
            "[relay] local_recipient in the profile (e)"
        );
        assert_eq!(FrontEnd::Cli.any_of(&[]), "");
        assert_eq!(
            FrontEnd::Cli.any_of(&[Control::Starttls, Control::ImplicitTls]),
            "--tls starttls or --tls implicit"
        );
    }

    /// No control is named in the explorer by a flag.
    #[test]
    fn the_explorer_never_names_a_flag() {
        let all = [
            Control::CaFile,
            Control::TlsName,
            Control::Insecure,
            Control::Starttls,
            Control::ImplicitTls,
            Control::Auth,
            Control::SendData,
            Control::Setting("[auth] username", "--user"),
        ];
        for c in all {
            let name = FrontEnd::Tui.name(c);
            assert!(!name.contains("--"), "{c:?}: {name}");
            assert!(FrontEnd::Cli.name(c).contains("--"), "{c:?}");
        }
    }
}
