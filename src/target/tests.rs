use super::*;
use crate::profile::AuthConfig;

fn profile(server: &str) -> Profile {
    Profile {
        server: server.into(),
        ..Profile::default()
    }
}

#[test]
fn overrides_win_over_the_profile_and_defaults_fill_the_rest() {
    let p = Profile {
        helo: Some("from-profile.test".into()),
        timeout_secs: Some(7.0),
        ..profile("mx.test:2525")
    };
    let r = resolve(Some(("p", &p)), &Overrides::default()).expect("resolves");
    assert_eq!(
        r.endpoint,
        Endpoint::Server(Target::parse("mx.test:2525", 25).expect("ok"))
    );
    assert_eq!(r.helo, "from-profile.test");
    assert_eq!(r.opts.timeouts.reply, Duration::from_secs(7));
    assert_eq!(
        r.opts.timeouts.session,
        Duration::from_secs_f64(DEFAULT_SESSION_TIMEOUT_SECS)
    );
    let o = Overrides {
        helo: Some("flag.test".into()),
        timeout: Some(3.0),
        tls: Some(TlsMode::Implicit),
        server: Some("other.test".into()),
        ..Overrides::default()
    };
    let r = resolve(Some(("p", &p)), &o).expect("resolves");
    assert_eq!(r.helo, "flag.test");
    assert_eq!(r.opts.timeouts.connect, Duration::from_secs(3));
    // Implicit TLS without a port means 465.
    assert_eq!(r.opts.target.port, 465);
}

#[test]
fn one_limit_for_every_timeout() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_TIMEOUT_SECS + 1.0] {
        let p = Profile {
            timeout_secs: Some(bad),
            ..profile("a:25")
        };
        assert!(
            matches!(
                resolve(Some(("p", &p)), &Overrides::default()),
                Err(TargetError::Timeout {
                    setting: "timeout",
                    ..
                })
            ),
            "{bad}"
        );
        let o = Overrides {
            session_timeout: Some(bad),
            ..Overrides::default()
        };
        assert!(matches!(
            resolve(Some(("p", &profile("a:25"))), &o),
            Err(TargetError::Timeout {
                setting: "session timeout",
                ..
            })
        ));
    }
    let ok = Profile {
        timeout_secs: Some(MAX_TIMEOUT_SECS),
        ..profile("a:25")
    };
    assert!(resolve(Some(("p", &ok)), &Overrides::default()).is_ok());
}

#[test]
fn a_domain_profile_keeps_its_dns_server_and_mx_port() {
    let p = Profile {
        domain: Some("lab.example".into()),
        dns_server: Some("127.0.0.1:5353".into()),
        mx_port: Some(2525),
        ..Profile::default()
    };
    let r = resolve(Some(("d", &p)), &Overrides::default()).expect("resolves");
    assert_eq!(
        r.endpoint,
        Endpoint::Mx {
            domain: "lab.example".into(),
            dns_server: Some("127.0.0.1:5353".parse().expect("addr")),
            port: 2525,
        }
    );
    let bad = Profile {
        dns_server: Some("localhost".into()),
        ..p
    };
    assert!(matches!(
        resolve(Some(("d", &bad)), &Overrides::default()),
        Err(TargetError::DnsServer { .. })
    ));
}

#[test]
fn credentials_are_a_source_until_read() {
    let p = Profile {
        auth: Some(AuthConfig {
            mechanism: Mechanism::Login,
            username: "alice".into(),
            password_env: Some("SMTPSCOPE_TEST_TARGET_UNSET_PW".into()),
            password_command: None,
            password: None,
        }),
        ..profile("a:25")
    };
    // Resolving reads nothing, so an unset variable is only an error when AUTH needs it.
    let r = resolve(Some(("p", &p)), &Overrides::default()).expect("resolves");
    let source = r.credentials.as_ref().expect("auth configured");
    assert_eq!(source.mechanism, Mechanism::Login);
    assert!(
        matches!(&source.password, PasswordSource::Env(v) if v == "SMTPSCOPE_TEST_TARGET_UNSET_PW")
    );
    assert!(matches!(
        r.read_credentials(),
        Err(TargetError::Secret(
            crate::secret::SecretError::EnvUnset { .. }
        ))
    ));
    let off = Overrides {
        auth: AuthOverrides {
            enabled: Some(false),
            ..AuthOverrides::default()
        },
        ..Overrides::default()
    };
    assert!(
        resolve(Some(("p", &p)), &off)
            .expect("ok")
            .credentials
            .is_none()
    );
    // Another user named by flag does not borrow the profile user's password.
    let bob = Overrides {
        auth: AuthOverrides {
            user: Some("bob".into()),
            ..AuthOverrides::default()
        },
        ..Overrides::default()
    };
    assert!(matches!(
        resolve(Some(("p", &p)), &bob),
        Err(TargetError::NoPasswordFlag)
    ));
}

#[test]
fn contradictions_and_gaps_are_named() {
    let p = Profile {
        tls: TlsMode::None,
        require_tls: true,
        ..profile("a:25")
    };
    assert!(matches!(
        resolve(Some(("p", &p)), &Overrides::default()),
        Err(TargetError::RequireTlsWithoutTls)
    ));
    assert!(matches!(
        resolve(None, &Overrides::default()),
        Err(TargetError::NoServer)
    ));
    let user_only = Overrides {
        auth: AuthOverrides {
            user: Some("u".into()),
            ..AuthOverrides::default()
        },
        ..Overrides::default()
    };
    assert!(matches!(
        resolve(Some(("p", &profile("a:25"))), &user_only),
        Err(TargetError::UserWithoutAuth)
    ));
}

#[test]
fn the_explorer_is_told_which_key_or_field_fixes_a_target() {
    use crate::advice::FrontEnd;
    let e = TargetError::NoServer;
    assert!(e.explain(FrontEnd::Cli).contains("--server"));
    let tui = e.explain(FrontEnd::Tui);
    assert!(
        tui.contains("in the profile (e)") && !tui.contains("--"),
        "{tui}"
    );
    let e = TargetError::RequireTlsWithoutTls;
    assert!(e.explain(FrontEnd::Tui).contains("F3"));
    assert_eq!(e.explain(FrontEnd::Cli), e.to_string());
}
