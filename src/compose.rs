//! A test message with attachments, as MIME, for `session --attach`: built by mail-builder
//! (which does not dot-stuff: the DATA encoder does that as the message streams).

use std::path::{Path, PathBuf};

use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

use crate::bounded_read::{self, Limit, MIB, ReadError, size_text};

/// The most a generated message takes from files, `--body @FILE` and every `--attach`
/// together: the message is built in memory (base64 makes attachments a third larger), so this
/// keeps a wrong file from filling it, and is far above what servers accept (SIZE is commonly
/// 10 to 50 MB). A larger prepared message goes with `--data-file`, which is streamed.
pub const MESSAGE_FILES_LIMIT: Limit = Limit {
    bytes: 64 * MIB,
    what: "a file put into a generated message",
};

/// What to build: the envelope's addresses as headers, the extra headers, the body text, and
/// the files to attach.
pub struct MimeMessage<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub id_domain: &'a str,
    pub headers: &'a [String],
    pub body: Option<&'a [u8]>,
    pub attachments: &'a [PathBuf],
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("--body @{}: {}", .0.path().display(), .0)]
    Body(#[source] ReadError),
    #[error("--attach {}: {}", .0.path().display(), .0)]
    Attach(#[source] ReadError),
    #[error(
        "--body and --attach files come to {}; together they may be at most {} (--data-file streams a larger message)",
        size_text(*total),
        size_text(MESSAGE_FILES_LIMIT.bytes)
    )]
    TooLargeTogether { total: u64 },
    #[error("cannot build the MIME message: {0}")]
    Build(std::io::Error),
}

/// A content type from the file name, for the common cases; anything else is bytes.
fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// The content of `--body @FILE`.
pub fn read_body_file(path: &Path) -> Result<Vec<u8>, ComposeError> {
    bounded_read::read_regular(path, MESSAGE_FILES_LIMIT).map_err(ComposeError::Body)
}

pub fn build(m: &MimeMessage<'_>) -> Result<Vec<u8>, ComposeError> {
    let now = jiff::Timestamp::now();
    let unique = format!("{}.{}", now.as_second(), now.subsec_nanosecond());
    let mut builder = MessageBuilder::new()
        .from(m.from)
        .to(m.to.iter().map(String::as_str).collect::<Vec<_>>())
        .subject(format!("smtpscope test {unique}"))
        .date(now.as_second())
        .message_id(format!("{unique}@{}", m.id_domain))
        .header("X-Smtpscope-Test", Raw::new(unique.clone()))
        .header(
            "X-Mailer",
            Raw::new(format!("smtpscope {}", env!("CARGO_PKG_VERSION"))),
        );
    for h in m.headers {
        if let Some((name, value)) = h.split_once(':') {
            builder = builder.header(name.trim().to_string(), Raw::new(value.trim().to_string()));
        }
    }
    let text = match m.body {
        Some(b) => String::from_utf8_lossy(b).into_owned(),
        None => "This message was sent by smtpscope (test). It can be deleted.\r\n".into(),
    };
    builder = builder.text_body(text);
    let mut total = m.body.map_or(0, |b| b.len() as u64);
    for path in m.attachments {
        let data =
            bounded_read::read_regular(path, MESSAGE_FILES_LIMIT).map_err(ComposeError::Attach)?;
        total += data.len() as u64;
        if total > MESSAGE_FILES_LIMIT.bytes {
            return Err(ComposeError::TooLargeTogether { total });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "attachment".into());
        builder = builder.attachment(content_type(path), name, data);
    }
    builder.write_to_vec().map_err(ComposeError::Build)
}
