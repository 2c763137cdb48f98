//! Reply parsing throughput: a realistic mix of replies, and a continuation-line flood.
//! `cargo bench --bench reply_parser`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use divan::counter::BytesCount;
use smtpscope::smtp::reply::{ReplyLimits, ReplyParser};

fn main() {
    divan::main();
}

fn mix(target: usize) -> Vec<u8> {
    let samples: [&[u8]; 6] = [
        b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n",
        b"250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
        b"250 2.1.0 Ok\r\n",
        b"554 5.7.1 <relay-test@elsewhere.example.org>: Relay access denied\r\n",
        b"354 End data with <CR><LF>.<CR><LF>\r\n",
        b"250 2.0.0 Ok: queued as 4F2C21234AB\r\n",
    ];
    let mut out = Vec::with_capacity(target + 512);
    while out.len() < target {
        for s in samples {
            out.extend_from_slice(s);
        }
    }
    out
}

fn parse_all(input: &[u8], limits: ReplyLimits) -> usize {
    let mut p = ReplyParser::new(limits);
    let mut rest = input;
    let mut replies = 0;
    while !rest.is_empty() {
        let fed = p.feed(rest);
        replies += usize::from(fed.reply.is_some());
        rest = &rest[fed.consumed..];
    }
    replies
}

#[divan::bench]
fn realistic_mix_4_mib(bencher: divan::Bencher) {
    let input = mix(4 << 20);
    bencher
        .counter(BytesCount::new(input.len()))
        .bench(|| parse_all(divan::black_box(&input), ReplyLimits::default()));
}

#[divan::bench(sample_count = 10)]
fn continuation_flood_64_mib(bencher: divan::Bencher) {
    let line = b"250-flood flood flood flood flood flood flood flood flood flood\r\n";
    let mut input = Vec::with_capacity(64 << 20);
    while input.len() < (64 << 20) {
        input.extend_from_slice(line);
    }
    bencher
        .counter(BytesCount::new(input.len()))
        .bench(|| parse_all(divan::black_box(&input), ReplyLimits::default()));
}
