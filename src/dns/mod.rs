//! Domains: MX targets and the posture records (SPF, DMARC, MTA-STS, TLS-RPT, DKIM). The
//! record parsers do no I/O; `resolve` asks a DNS server; `posture` judges what it found.

pub mod dane;
pub mod direct;
pub mod dmarc;
pub mod mta_sts;
pub mod mta_sts_check;
pub mod posture;
pub mod resolve;
pub mod spf;
pub mod spf_eval;
pub mod txt_records;
