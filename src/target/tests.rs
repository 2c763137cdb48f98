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

/// Each value below is refused by `resolve`, before anything could connect, naming the flag
/// when one gave it and the profile's key otherwise.
#[test]
fn login_and_proxy_values_are_refused_naming_where_they_came_from() {
    let err =
        |p: &Profile, o: &Overrides| resolve(Some(("p", p)), o).expect_err("refused").to_string();
    // A SOCKS5 user over 255 octets, by flag and by profile.
    let socks = Profile {
        socks5: Some("127.0.0.1:1080".into()),
        socks5_password_env: Some("SMTPSCOPE_TEST_SOCKS_UNUSED".into()),
        ..profile("mx.test:25")
    };
    let o = Overrides {
        socks5_user: Some("u".repeat(256)),
        ..Overrides::default()
    };
    let e = err(&socks, &o);
    assert!(e.starts_with("--socks5-user is 256 octets long"), "{e}");
    let p = Profile {
        socks5_user: Some("a\nb".into()),
        ..socks.clone()
    };
    let e = err(&p, &Overrides::default());
    assert!(e.starts_with("profile p: socks5_user holds an LF"), "{e}");
    // A typed SOCKS5 password with a NUL: named, never shown.
    let o = Overrides {
        socks5_user: Some("u".into()),
        socks5_password: Some(PasswordSource::Given("se\0cret".to_string().into())),
        ..Overrides::default()
    };
    let e = err(&socks, &o);
    assert!(e.contains("holds a NUL") && !e.contains("se"), "{e}");
    // An IPv6 PROXY source to an IPv4 server, and the reverse.
    let o = Overrides {
        proxy: Some(crate::smtp::proxy::ProxyVersion::V1),
        proxy_source: Some("[2001:db8::7]:1".parse().expect("addr")),
        ..Overrides::default()
    };
    let e = err(&profile("192.0.2.25:25"), &o);
    assert!(
        e.starts_with("--proxy-source [2001:db8::7]:1 is IPv6"),
        "{e}"
    );
    let p = Profile {
        proxy: Some(crate::smtp::proxy::ProxyVersion::V2),
        proxy_source: Some("192.0.2.7:1".into()),
        ..profile("[2001:db8::25]:25")
    };
    let e = err(&p, &Overrides::default());
    assert!(
        e.starts_with("profile p: proxy_source 192.0.2.7:1 is IPv4"),
        "{e}"
    );
    // A name is left to the connection, which knows its address.
    let by_name = Overrides {
        server: Some("mx.test".into()),
        ..Overrides::default()
    };
    assert!(resolve(Some(("p", &p)), &by_name).is_ok());
    // Through SOCKS5 no PROXY header can name the server's address.
    let p = Profile {
        proxy: Some(crate::smtp::proxy::ProxyVersion::V1),
        proxy_source: Some("192.0.2.7:1".into()),
        socks5: Some("127.0.0.1:1080".into()),
        ..profile("mx.test:25")
    };
    let e = err(&p, &Overrides::default());
    assert!(
        e.starts_with("profile p: proxy cannot be used with profile p: socks5"),
        "{e}"
    );
    // An XCLIENT attribute is named by the flag or the key too.
    let p = Profile {
        xclient: vec!["COLOUR=red".into()],
        ..profile("mx.test:25")
    };
    assert!(err(&p, &Overrides::default()).starts_with("profile p: xclient \"COLOUR=red\""));
    let o = Overrides {
        xclient: vec![format!("HELO={}", "+".repeat(200))],
        ..Overrides::default()
    };
    assert!(err(&p, &o).starts_with("--xclient HELO: "));
}

#[test]
fn sasl_user_names_and_secrets_without_field_separators() {
    let with_auth = |username: &str, password: &str| Profile {
        auth: Some(AuthConfig {
            mechanism: Mechanism::Plain,
            username: username.into(),
            password_env: None,
            password_command: None,
            password: Some(password.into()),
        }),
        ..profile("mx.test:25")
    };
    let e = resolve(Some(("p", &with_auth("u\0x", "pw"))), &Overrides::default())
        .expect_err("a NUL in the user")
        .to_string();
    assert!(
        e.starts_with("profile p: [auth] username holds a NUL (\\0) at position 2"),
        "{e}"
    );
    // The secret is checked when read, before any connection uses it, and not shown.
    let r = resolve(
        Some(("p", &with_auth("u", "hunter2\r\n"))),
        &Overrides::default(),
    )
    .expect("resolves: the secret is not read yet");
    let e = r.read_credentials().expect_err("a CR").to_string();
    assert!(
        e.starts_with("profile p: [auth] password holds a CR"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let o = Overrides {
        auth: AuthOverrides {
            user: Some("a\rb".into()),
            ..AuthOverrides::default()
        },
        ..Overrides::default()
    };
    let e = resolve(Some(("p", &with_auth("u", "pw"))), &o)
        .expect_err("a CR in --user")
        .to_string();
    assert!(e.starts_with("--user holds a CR"), "{e}");
}

#[test]
fn a_pipe_is_a_route_of_its_own_from_a_flag_or_the_profile() {
    // A flag needs no server: the program is the server.
    let flag = Overrides {
        pipe: Some("exim -bh 192.0.2.9".into()),
        ..Overrides::default()
    };
    let t = resolve(None, &flag).expect("resolves");
    assert!(t.opts.route.is_pipe());
    assert_eq!(t.opts.target.host, "localhost");
    // The profile's key, named as such when it is wrong.
    let p = Profile {
        pipe: Some("exim 'open".into()),
        ..profile("")
    };
    match resolve(Some(("piped", &p)), &Overrides::default()) {
        Err(e @ TargetError::Pipe { .. }) => {
            assert!(e.to_string().starts_with("profile piped: pipe: "), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Two ways to the server in one profile is an error; a flag's way wins over the profile's.
    let both = Profile {
        pipe: Some("exim -bh 192.0.2.9".into()),
        socket: Some("/run/smtpd.sock".into()),
        ..profile("")
    };
    assert!(matches!(
        resolve(Some(("p", &both)), &Overrides::default()),
        Err(TargetError::PipeAndRoute { .. })
    ));
    let socket_profile = Profile {
        socket: Some("/run/smtpd.sock".into()),
        ..profile("")
    };
    let t = resolve(Some(("p", &socket_profile)), &flag).expect("the flag wins");
    assert!(t.opts.route.is_pipe());
    // A PROXY header names addresses a pipe does not have.
    let proxied = Overrides {
        proxy: Some(crate::smtp::proxy::ProxyVersion::V1),
        proxy_source: Some("192.0.2.9:4000".parse().expect("address")),
        ..flag.clone()
    };
    assert!(matches!(
        resolve(None, &proxied),
        Err(TargetError::ProxyOverRoute { .. })
    ));
    let domain = Overrides {
        domain: Some("example.org".into()),
        ..flag
    };
    assert!(matches!(
        resolve(None, &domain),
        Err(TargetError::PipeWithDomain { .. })
    ));
}
