//! Apache's strings are bytes; Python's environ wants text. PEP 3333's
//! "native strings" are those bytes read as ISO-8859-1, one character per
//! byte, which is what the C module hands an application. Pure, so the
//! wrappers and the adapter share one definition.

use std::borrow::Cow;

/// `bytes` as latin-1 text: each byte the character of that code point.
/// Distinct byte strings stay distinct (nothing collapses into U+FFFD),
/// and ASCII, the common case, is borrowed.
pub fn latin1(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        if let Ok(ascii) = std::str::from_utf8(bytes) {
            return Cow::Borrowed(ascii);
        }
    }
    Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())
}

/// White space as C's `isspace` (and APR's `apr_isspace`) sees it in the
/// "C" locale: ASCII only, so U+00A0 and U+0085, which a latin-1 byte can
/// be, are not (Rust's `trim` would strip them).
pub fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// The bytes a [`latin1`] text came from. Characters above U+00FF cannot
/// come from `latin1` and are replaced by `?`.
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c).unwrap_or(b'?'))
        .collect()
}

/// A [`latin1`] text as UTF-8 for a log line or a routing name: its bytes,
/// with any that are not UTF-8 replaced, as Apache's own strings are read.
pub fn latin1_as_utf8(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(String::from_utf8_lossy(&latin1_bytes(text)).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_byte_is_one_character() {
        assert_eq!(latin1(b"caf\xe9"), "caf\u{e9}");
        assert_eq!(latin1(b"\xff\xc3\xa9\x80"), "\u{ff}\u{c3}\u{a9}\u{80}");
        // UTF-8 input is bytes too: two characters for the two bytes of é.
        assert_eq!(latin1("caf\u{e9}".as_bytes()), "caf\u{c3}\u{a9}");
        // Bytes that are not UTF-8 must not collapse into one replacement
        // character, or two different names would compare equal.
        assert_ne!(latin1(b"\xe9t\xe9"), latin1(b"\xf3t\xf3"));
    }

    #[test]
    fn the_bytes_come_back() {
        for bytes in [&b"caf\xe9"[..], b"\xff\xc3\xa9\x80", b"plain", b""] {
            assert_eq!(latin1_bytes(&latin1(bytes)), bytes);
        }
        assert_eq!(latin1_bytes("\u{20ac}"), b"?");
        // Read back as UTF-8: what was UTF-8 is text again; the rest is
        // replaced, as Apache's strings are read elsewhere.
        assert_eq!(latin1_as_utf8(&latin1("caf\u{e9}".as_bytes())), "caf\u{e9}");
        assert_eq!(latin1_as_utf8(&latin1(b"caf\xe9")), "caf\u{fffd}");
        assert!(matches!(latin1_as_utf8("ascii"), Cow::Borrowed("ascii")));
    }

    #[test]
    fn c_space_is_ascii_only() {
        assert_eq!(" \t1.2.3.4\r\n".trim_matches(is_c_space), "1.2.3.4");
        assert_eq!(
            "\u{85}1.2.3.4\u{a0}".trim_matches(is_c_space),
            "\u{85}1.2.3.4\u{a0}"
        );
    }

    #[test]
    fn ascii_is_borrowed() {
        assert!(matches!(latin1(b"GET"), Cow::Borrowed("GET")));
        assert!(matches!(latin1(b""), Cow::Borrowed("")));
        assert!(matches!(latin1(b"\xe9"), Cow::Owned(_)));
    }
}
