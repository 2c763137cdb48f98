//! SPF evaluated the way receivers evaluate it (RFC 7208 §4.6, §5, §6), for a sender address
//! that no mechanism matches: the path on which every reachable term is tried, so every error a
//! receiver can meet shows up. `include`, `redirect`, `a`, `mx` and `exists` are followed (when
//! their target holds no macro, which would expand per message), with RFC 7208 §4.6.4's limits:
//! 10 DNS-querying terms, 10 names per `mx` lookup, 2 void lookups. An error stops the walk as it
//! stops a receiver: a permerror (broken or missing record, a limit passed) or a temperror (a
//! lookup that failed), each naming the record and the term where it happened.

use super::resolve::Dns;
use super::spf::{self, Mechanism, SpfRecord};

/// RFC 7208 §4.6.4: at most 10 DNS-querying terms per evaluation.
pub const TERM_LIMIT: usize = 10;
/// RFC 7208 §4.6.4: at most 10 names from one `mx` (or `ptr`) lookup.
pub const NAMES_PER_LOOKUP: usize = 10;
/// RFC 7208 §4.6.4: more than 2 lookups answered NXDOMAIN or with no records is a permerror.
pub const VOID_LIMIT: usize = 2;
/// RFC 7208 §3.4: a record longer than this may not fit a UDP answer.
pub const SIZE_NOTE_BYTES: usize = 512;
/// Nesting depth for `include` and `redirect`; the term limit ends a walk sooner, this bounds it
/// even if counting were wrong.
const MAX_DEPTH: usize = 12;

/// Where evaluation stopped with an error: the domain whose record holds the term, the term as
/// written (or `None` for the record itself), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub record: String,
    pub term: Option<String>,
    pub why: String,
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.term {
            Some(term) => write!(
                f,
                "in the record of {}, term '{term}': {}",
                self.record, self.why
            ),
            None => write!(f, "in the record of {}: {}", self.record, self.why),
        }
    }
}

/// How a walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every reachable term was evaluated without an error.
    Completed,
    /// RFC 7208 §2.6.7: the domain's records cannot be interpreted; SPF fails for every sender
    /// not matched before the error.
    PermError(Stop),
    /// RFC 7208 §2.6.6: a DNS lookup failed; receivers defer or treat SPF as unknown.
    TempError(Stop),
}

/// What the walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub outcome: Outcome,
    /// DNS-querying terms evaluated (at most [`TERM_LIMIT`] + 1: the one over the limit).
    pub lookups: usize,
    /// Lookups answered NXDOMAIN or with no records.
    pub voids: usize,
    /// `ptr` terms as "domain: term" (RFC 7208 §5.5: SHOULD NOT be used).
    pub ptr_terms: Vec<String>,
    /// Records longer than [`SIZE_NOTE_BYTES`], as (domain, length).
    pub oversized: Vec<(String, usize)>,
    /// Targets not followed because they hold macros, as "domain: term".
    pub macro_terms: Vec<String>,
}

enum Halt {
    Perm(Stop),
    Temp(Stop),
}

struct Walk<'a> {
    dns: &'a Dns,
    eval: Evaluation,
}

/// The domain part of an `a`/`mx` argument (`mail.example.com/24`, `/24//64`), or `current`.
fn target_of(arg: Option<&str>, current: &str) -> String {
    let domain = arg
        .map(|a| a.split('/').next().unwrap_or_default())
        .unwrap_or_default();
    if domain.is_empty() {
        current.to_string()
    } else {
        domain.to_string()
    }
}

fn term_text(term: &spf::Term) -> String {
    let q = match term.qualifier {
        spf::Qualifier::Pass => "",
        spf::Qualifier::Fail => "-",
        spf::Qualifier::SoftFail => "~",
        spf::Qualifier::Neutral => "?",
    };
    let m = match &term.mechanism {
        Mechanism::All => "all".to_string(),
        Mechanism::Include(d) => format!("include:{d}"),
        Mechanism::A(None) => "a".to_string(),
        Mechanism::A(Some(d)) if d.starts_with('/') => format!("a{d}"),
        Mechanism::A(Some(d)) => format!("a:{d}"),
        Mechanism::Mx(None) => "mx".to_string(),
        Mechanism::Mx(Some(d)) if d.starts_with('/') => format!("mx{d}"),
        Mechanism::Mx(Some(d)) => format!("mx:{d}"),
        Mechanism::Ptr(None) => "ptr".to_string(),
        Mechanism::Ptr(Some(d)) => format!("ptr:{d}"),
        Mechanism::Ip4(n) => format!("ip4:{n}"),
        Mechanism::Ip6(n) => format!("ip6:{n}"),
        Mechanism::Exists(d) => format!("exists:{d}"),
    };
    format!("{q}{m}")
}

impl Walk<'_> {
    fn stop(record: &str, term: &str, why: String) -> Stop {
        Stop {
            record: record.to_string(),
            term: Some(term.to_string()),
            why,
        }
    }

    /// Counts one DNS-querying term; the 11th is a permerror.
    fn count(&mut self, record: &str, term: &str) -> Result<(), Halt> {
        self.eval.lookups += 1;
        if self.eval.lookups > TERM_LIMIT {
            return Err(Halt::Perm(Self::stop(
                record,
                term,
                format!(
                    "more than {TERM_LIMIT} DNS-querying terms (include, a, mx, ptr, exists, redirect): over the limit of {TERM_LIMIT} (RFC 7208 §4.6.4)"
                ),
            )));
        }
        Ok(())
    }

    /// Counts a lookup that found nothing; the third is a permerror.
    fn void(&mut self, record: &str, term: &str, what: String) -> Result<(), Halt> {
        self.eval.voids += 1;
        if self.eval.voids > VOID_LIMIT {
            return Err(Halt::Perm(Self::stop(
                record,
                term,
                format!(
                    "{what}: the {} lookup that found nothing, over the limit of {VOID_LIMIT} void lookups (RFC 7208 §4.6.4)",
                    ordinal(self.eval.voids)
                ),
            )));
        }
        Ok(())
    }

    /// The SPF record of `target`, reached from `term` in `record`; a missing, duplicated or
    /// broken record is a permerror (RFC 7208 §5.2 for include, §6.1 for redirect).
    async fn fetch(
        &mut self,
        record: &str,
        term: &str,
        target: &str,
        rfc: &str,
    ) -> Result<SpfRecord, Halt> {
        let txts = self.dns.txt(target).await.map_err(|e| {
            Halt::Temp(Self::stop(
                record,
                term,
                format!("the lookup of {target}'s SPF record failed: {e} ({rfc})"),
            ))
        })?;
        let text = match spf::select(&txts) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return Err(Halt::Perm(Self::stop(
                    record,
                    term,
                    format!("{target} has no SPF record ({rfc})"),
                )));
            }
            Err(e) => {
                return Err(Halt::Perm(Self::stop(
                    record,
                    term,
                    format!("{target}: {e}"),
                )));
            }
        };
        if text.len() > SIZE_NOTE_BYTES {
            self.eval.oversized.push((target.to_string(), text.len()));
        }
        spf::parse(&text).map_err(|e| {
            Halt::Perm(Self::stop(
                record,
                term,
                format!("{target}'s SPF record does not parse: {e} ({rfc})"),
            ))
        })
    }

    async fn walk(&mut self, domain: &str, record: &SpfRecord, depth: usize) -> Result<(), Halt> {
        if depth > MAX_DEPTH {
            return Err(Halt::Perm(Stop {
                record: domain.to_string(),
                term: None,
                why: format!("includes and redirects nest deeper than {MAX_DEPTH}: a loop?"),
            }));
        }
        let reachable = match record
            .terms
            .iter()
            .position(|t| t.mechanism == Mechanism::All)
        {
            Some(i) => record.terms.get(..=i).unwrap_or(&record.terms),
            None => &record.terms,
        };
        for term in reachable {
            let text = term_text(term);
            match &term.mechanism {
                Mechanism::All | Mechanism::Ip4(_) | Mechanism::Ip6(_) => {}
                Mechanism::Include(target) => {
                    self.count(domain, &text)?;
                    if target.contains('%') {
                        self.eval.macro_terms.push(format!("{domain}: {text}"));
                        continue;
                    }
                    let inner = self.fetch(domain, &text, target, "RFC 7208 §5.2").await?;
                    Box::pin(self.walk(target, &inner, depth + 1)).await?;
                }
                Mechanism::A(arg) => {
                    self.count(domain, &text)?;
                    let target = target_of(arg.as_deref(), domain);
                    if target.contains('%') {
                        self.eval.macro_terms.push(format!("{domain}: {text}"));
                        continue;
                    }
                    self.address(domain, &text, &target).await?;
                }
                Mechanism::Exists(target) => {
                    self.count(domain, &text)?;
                    if target.contains('%') {
                        self.eval.macro_terms.push(format!("{domain}: {text}"));
                        continue;
                    }
                    self.address(domain, &text, target).await?;
                }
                Mechanism::Mx(arg) => {
                    self.count(domain, &text)?;
                    let target = target_of(arg.as_deref(), domain);
                    if target.contains('%') {
                        self.eval.macro_terms.push(format!("{domain}: {text}"));
                        continue;
                    }
                    self.mx(domain, &text, &target).await?;
                }
                Mechanism::Ptr(_) => {
                    self.count(domain, &text)?;
                    self.eval.ptr_terms.push(format!("{domain}: {text}"));
                }
            }
        }
        if let Some(target) = record
            .redirect
            .as_ref()
            .filter(|_| record.all_qualifier().is_none())
        {
            let text = format!("redirect={target}");
            self.count(domain, &text)?;
            if target.contains('%') {
                self.eval.macro_terms.push(format!("{domain}: {text}"));
                return Ok(());
            }
            let inner = self.fetch(domain, &text, target, "RFC 7208 §6.1").await?;
            Box::pin(self.walk(target, &inner, depth + 1)).await?;
        }
        Ok(())
    }

    /// An address lookup for `a` or `exists`.
    async fn address(&mut self, domain: &str, term: &str, target: &str) -> Result<(), Halt> {
        let found =
            self.dns.addresses_if_any(target).await.map_err(|e| {
                Halt::Temp(Self::stop(domain, term, format!("{e} (RFC 7208 §5.3)")))
            })?;
        if found.is_empty() {
            self.void(domain, term, format!("{target} has no address"))?;
        }
        Ok(())
    }

    /// `mx`: the MX lookup (at most 10 names), then each name's addresses.
    async fn mx(&mut self, domain: &str, term: &str, target: &str) -> Result<(), Halt> {
        let names =
            self.dns.mx(target).await.map_err(|e| {
                Halt::Temp(Self::stop(domain, term, format!("{e} (RFC 7208 §5.4)")))
            })?;
        if names.is_empty() {
            return self.void(domain, term, format!("{target} has no MX record"));
        }
        if names.len() > NAMES_PER_LOOKUP {
            return Err(Halt::Perm(Self::stop(
                domain,
                term,
                format!(
                    "{target} has {} MX names, more than the {NAMES_PER_LOOKUP} an evaluation may look up (RFC 7208 §4.6.4)",
                    names.len()
                ),
            )));
        }
        for (_, name) in names.iter().filter(|(_, n)| n != ".") {
            self.dns.addresses_if_any(name).await.map_err(|e| {
                Halt::Temp(Self::stop(domain, term, format!("{e} (RFC 7208 §5.4)")))
            })?;
        }
        Ok(())
    }
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "1st".into(),
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}

/// Walks `record` (published at `domain`, `text` as found) and everything it reaches.
pub async fn evaluate(dns: &Dns, domain: &str, text: &str, record: &SpfRecord) -> Evaluation {
    let mut walk = Walk {
        dns,
        eval: Evaluation {
            outcome: Outcome::Completed,
            lookups: 0,
            voids: 0,
            ptr_terms: Vec::new(),
            oversized: Vec::new(),
            macro_terms: Vec::new(),
        },
    };
    if text.len() > SIZE_NOTE_BYTES {
        walk.eval.oversized.push((domain.to_string(), text.len()));
    }
    walk.eval.outcome = match walk.walk(domain, record, 0).await {
        Ok(()) => Outcome::Completed,
        Err(Halt::Perm(stop)) => Outcome::PermError(stop),
        Err(Halt::Temp(stop)) => Outcome::TempError(stop),
    };
    walk.eval
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_of_a_and_mx() {
        assert_eq!(target_of(None, "d.example"), "d.example");
        assert_eq!(target_of(Some("/24"), "d.example"), "d.example");
        assert_eq!(target_of(Some("/24//64"), "d.example"), "d.example");
        assert_eq!(target_of(Some("m.example/24"), "d.example"), "m.example");
        assert_eq!(target_of(Some("m.example"), "d.example"), "m.example");
    }

    #[test]
    fn terms_are_written_back_as_in_the_record() {
        let r = spf::parse("v=spf1 a mx/24 -a:x.example/24 ~include:i.example ?exists:%{i}.e.example ptr ip4:192.0.2.0/24 -all").unwrap();
        let texts: Vec<String> = r.terms.iter().map(term_text).collect();
        assert_eq!(
            texts,
            [
                "a",
                "mx/24",
                "-a:x.example/24",
                "~include:i.example",
                "?exists:%{i}.e.example",
                "ptr",
                "ip4:192.0.2.0/24",
                "-all"
            ]
        );
    }

    #[test]
    fn a_stop_names_the_record_and_the_term() {
        let s = Stop {
            record: "d.example".into(),
            term: Some("include:x.example".into()),
            why: "x.example has no SPF record".into(),
        };
        assert_eq!(
            s.to_string(),
            "in the record of d.example, term 'include:x.example': x.example has no SPF record"
        );
    }
}
