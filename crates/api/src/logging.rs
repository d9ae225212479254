//! Log output: the subscriber the binary installs. Every field value is escaped, so that
//! user input reaching a log line (a path, a tenant slug, a user name, a header value)
//! cannot end that line and forge another.

use std::borrow::Cow;
use std::fmt;
use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{debug_fn, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber on standard error: `json` lines (JSON escapes every
/// value itself) or text with [`escaped_fields`]; the level filter comes from
/// `KEYPLANE_LOG` (default `info`). Colour only when standard error is a terminal, so that
/// a log file or a collector never receives ANSI escapes.
pub fn init(format: &str) {
    init_at(format, "info");
}

/// As [`init`], at `level` unless `KEYPLANE_LOG` says otherwise (the admin commands log
/// only warnings, so that their output stays readable).
pub fn init_at(format: &str, level: &str) {
    let filter = std::env::var("KEYPLANE_LOG").unwrap_or_else(|_| level.to_owned());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Nothing is installed before this: `main` calls it first.
    let _ = install(format, &filter, std::io::stderr, ansi);
}

/// Installs the global subscriber writing to `writer`, filtered by `filter` (an
/// `EnvFilter` directive such as `info` or `keyplane=debug`; an invalid one means
/// `info`). The end-to-end tests install it on a buffer, to read what the server logs.
///
/// # Errors
/// When a global subscriber is installed already.
pub fn install<W>(format: &str, filter: &str, writer: W, ansi: bool) -> Result<(), String>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let installed =
        if format == "json" { builder.json().try_init() } else { builder.fmt_fields(escaped_fields()).try_init() };
    installed.map_err(|e| e.to_string())
}

/// Formats the fields of events and spans as `name=value` (the message bare), with
/// [`escape_control`] applied to every value, whether it was recorded with `%` (Display)
/// or `?` (Debug). tracing-actix-web records the request path, user agent and client
/// address with `%`, which the default formatter writes unescaped.
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
        let text = format!("{value:?}");
        let text = escape_control(&text);
        match field.name() {
            "message" => write!(w, "{text}"),
            name => write!(w, "{}={text}", name.strip_prefix("r#").unwrap_or(name)),
        }
    })
    .delimited(" ")
}

/// Escapes what could break a log line or drive a terminal: control characters (line
/// feeds, carriage returns, ANSI escapes, …) and the Unicode line and paragraph
/// separators, written as Rust escapes (`\n`, `\u{1b}`, `\u{2028}`). Everything else is
/// kept as is.
pub fn escape_control(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_control("/t/acme/users/alice"), "/t/acme/users/alice");
        assert!(matches!(escape_control("plain ünïcode"), Cow::Borrowed(_)));
        assert_eq!(escape_control("a\nINFO forged"), "a\\nINFO forged");
        assert_eq!(escape_control("a\r\n\tb"), "a\\r\\n\\tb");
        assert_eq!(escape_control("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape_control("x\u{2028}y\u{85}z"), "x\\u{2028}y\\u{85}z");
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn user_input_cannot_forge_a_log_line() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .without_time()
            .fmt_fields(escaped_fields())
            .finish();
        let forged = "/t/acme\n2026-01-01T00:00:00Z  INFO forged line";
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", http.target = %forged);
            let _entered = span.enter();
            tracing::warn!(user = %"alice\r\nWARN admin signed in", slug = ?"a\nb", "refused {}", "x\ny");
        });
        let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains(r"http.target=/t/acme\n2026-01-01T00:00:00Z  INFO forged line"), "{out}");
        assert!(out.contains(r"user=alice\r\nWARN admin signed in"), "{out}");
        assert!(out.contains(r#"slug="a\nb""#), "{out}");
        assert!(out.contains(r"refused x\ny"), "{out}");
    }
}
