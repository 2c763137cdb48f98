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

/// One `--attach`, with the `--attach-type` and `--attach-name` that apply to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttachSpec {
    pub path: PathBuf,
    pub content_type: Option<String>,
    pub name: Option<String>,
}

/// What to build: the envelope's addresses as headers, the extra headers, the body text, and
/// the files to attach.
pub struct MimeMessage<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    /// The Cc header's addresses (none: no Cc header).
    pub cc: &'a [String],
    pub id_domain: &'a str,
    pub headers: &'a [String],
    pub body: Option<&'a [u8]>,
    pub attachments: &'a [AttachSpec],
}

/// Headers that describe the MIME structure `--attach` builds: an operator's own would
/// contradict it (two Content-Type lines, or a boundary that is not the one used).
const MIME_STRUCTURE: [&str; 3] = ["MIME-Version", "Content-Type", "Content-Transfer-Encoding"];

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
    #[error(
        "--header {name}: with --attach the MIME structure is generated, and {name} is part of it; give the whole message with --data-file to write your own"
    )]
    MimeHeader { name: String },
    #[error("--attach-type {0:?}: give a MIME type as type/subtype (e.g. text/csv)")]
    BadType(String),
    #[error("--attach-name {0:?}: a file name without control characters, at most 255 octets")]
    BadName(String),
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

/// A header line's name, trimmed ("" without a colon).
fn header_name(line: &str) -> &str {
    line.split_once(':').map_or("", |(name, _)| name.trim())
}

/// `type/subtype` with printable ASCII and no separators that would end the header field.
fn valid_content_type(t: &str) -> bool {
    let mut parts = t.splitn(2, '/');
    let token = |p: &str| {
        !p.is_empty()
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!((parts.next(), parts.next()), (Some(a), Some(b)) if token(a) && token(b))
}

pub fn build(m: &MimeMessage<'_>) -> Result<Vec<u8>, ComposeError> {
    let now = jiff::Timestamp::now();
    let unique = format!("{}.{}", now.as_second(), now.subsec_nanosecond());
    for h in m.headers {
        let name = header_name(h);
        if let Some(own) = MIME_STRUCTURE.iter().find(|n| n.eq_ignore_ascii_case(name)) {
            return Err(ComposeError::MimeHeader {
                name: (*own).to_string(),
            });
        }
    }
    // As without --attach (and as swaks): the operator's header takes the place of the
    // standard one of its name, so each appears once. Date and Message-ID keep their usual
    // spelling, which is how mail-builder knows not to add its own.
    let mut used = vec![false; m.headers.len()];
    let mut own = |standard: &str| -> Option<(String, String)> {
        let i = (0..m.headers.len())
            .find(|&i| !used[i] && header_name(&m.headers[i]).eq_ignore_ascii_case(standard))?;
        used[i] = true;
        let (name, value) = m.headers[i].split_once(':')?;
        let name = if ["Date", "Message-ID"].contains(&standard) {
            standard.to_string()
        } else {
            name.trim().to_string()
        };
        Some((name, value.trim().to_string()))
    };
    let mut builder = MessageBuilder::new();
    let mut put =
        |builder: MessageBuilder<'static>,
         standard: &str,
         default: &dyn Fn(MessageBuilder<'static>) -> MessageBuilder<'static>| {
            match own(standard) {
                Some((name, value)) => builder.header(name, Raw::new(value)),
                None => default(builder),
            }
        };
    let to: Vec<String> = m.to.to_vec();
    let cc: Vec<String> = m.cc.to_vec();
    let from = m.from.to_string();
    let subject = format!("smtpscope test {unique}");
    let id = format!("{unique}@{}", m.id_domain);
    let mailer = format!("smtpscope {}", env!("CARGO_PKG_VERSION"));
    let second = now.as_second();
    builder = put(builder, "Date", &|b| b.date(second));
    builder = put(builder, "From", &|b| b.from(from.clone()));
    if !to.is_empty() {
        builder = put(builder, "To", &|b| b.to(to.clone()));
    }
    if !cc.is_empty() {
        builder = put(builder, "Cc", &|b| b.cc(cc.clone()));
    }
    builder = put(builder, "Subject", &|b| b.subject(subject.clone()));
    builder = put(builder, "Message-ID", &|b| b.message_id(id.clone()));
    builder = put(builder, "X-Smtpscope-Test", &|b| {
        b.header("X-Smtpscope-Test", Raw::new(unique.clone()))
    });
    builder = put(builder, "X-Mailer", &|b| {
        b.header("X-Mailer", Raw::new(mailer.clone()))
    });
    for (h, used) in m.headers.iter().zip(used) {
        if used {
            continue;
        }
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
    for spec in m.attachments {
        let path = &spec.path;
        let data =
            bounded_read::read_regular(path, MESSAGE_FILES_LIMIT).map_err(ComposeError::Attach)?;
        total += data.len() as u64;
        if total > MESSAGE_FILES_LIMIT.bytes {
            return Err(ComposeError::TooLargeTogether { total });
        }
        let name = match &spec.name {
            Some(n) => n.clone(),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "attachment".into()),
        };
        let content_type = match &spec.content_type {
            Some(t) => t.clone(),
            None => content_type(path).to_string(),
        };
        builder = builder.attachment(content_type, name, data);
    }
    builder.write_to_vec().map_err(ComposeError::Build)
}

/// Checks `--attach-type` and `--attach-name` values before anything is read or sent.
pub fn check_attachments(specs: &[AttachSpec]) -> Result<(), ComposeError> {
    for spec in specs {
        if let Some(t) = &spec.content_type
            && !valid_content_type(t)
        {
            return Err(ComposeError::BadType(t.clone()));
        }
        if let Some(n) = &spec.name
            && (n.is_empty() || n.len() > 255 || n.chars().any(char::is_control))
        {
            return Err(ComposeError::BadName(n.clone()));
        }
    }
    Ok(())
}
