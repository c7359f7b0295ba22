//! Pure validation of what applications hand to `start_response`, with
//! the C module's rules and messages (each becomes a `ValueError`).

/// How Python shows `bytes` (`b'...'`), as the messages quote them.
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut shown = format!("b{quote}");
    for &b in data {
        match b {
            b'\t' => shown.push_str("\\t"),
            b'\n' => shown.push_str("\\n"),
            b'\r' => shown.push_str("\\r"),
            b'\\' => shown.push_str("\\\\"),
            _ if char::from(b) == quote => {
                shown.push('\\');
                shown.push(quote);
            }
            0x20..=0x7e => shown.push(char::from(b)),
            _ => shown.push_str(&format!("\\x{b:02x}")),
        }
    }
    shown.push(quote);
    shown
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7f
}

/// Checks a status line ("200 OK", or just "200") and returns its code.
pub fn parse_status(line: &[u8]) -> Result<i32, String> {
    let code = line.get(..3).filter(|d| d.iter().all(u8::is_ascii_digit));
    let (Some(code), false) = (code, line.get(3).is_some_and(u8::is_ascii_digit)) else {
        return Err(format!(
            "status code must be a 3 digit integer: {}",
            bytes_repr(line)
        ));
    };
    if line.len() > 3 && line[3] != b' ' {
        return Err(format!(
            "no space following status code: {}",
            bytes_repr(line)
        ));
    }
    if line[3.min(line.len())..].iter().copied().any(is_control) {
        return Err(format!(
            "control character in status reason phrase: {}",
            bytes_repr(line)
        ));
    }
    Ok(code.iter().fold(0, |n, d| n * 10 + i32::from(d - b'0')))
}

/// Checks a response header name (its latin-1 bytes).
pub fn check_header_name(name: &[u8]) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    if name.contains(&b' ') {
        return Err(format!(
            "space character in header name: {}",
            bytes_repr(name)
        ));
    }
    if name.iter().copied().any(is_control) {
        return Err(format!(
            "control character in header name: {}",
            bytes_repr(name)
        ));
    }
    Ok(())
}

/// Checks a response header value (its latin-1 bytes): only a line break
/// could split it into a header of its own.
pub fn check_header_value(value: &[u8]) -> Result<(), String> {
    if value.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(format!(
            "carriage return/line feed character in header value: {}",
            bytes_repr(value)
        ));
    }
    Ok(())
}

/// Connection-level headers an application may not set (PEP 3333). The
/// C module lets them through; refusing them is our deliberate, stricter
/// choice (tests/pep3333.rs `reject_hop_by_hop_header`).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

pub fn check_not_hop_by_hop(name: &str) -> Result<(), String> {
    if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Err(format!(
            "hop-by-hop header '{name}' is not allowed in a WSGI response"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_like_python() {
        assert_eq!(bytes_repr(b"200 OK"), "b'200 OK'");
        assert_eq!(
            bytes_repr(b"a\r\nb\tc\x01\x7f\xe9\\"),
            "b'a\\r\\nb\\tc\\x01\\x7f\\xe9\\\\'"
        );
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"200 OK"), Ok(200));
        assert_eq!(parse_status(b"404 Not Found"), Ok(404));
        assert_eq!(parse_status(b"200"), Ok(200));
        assert_eq!(parse_status(b"099 Low"), Ok(99));
        for bad in [&b"OK"[..], b"2x0 OK", b"2000 OK", b"20 OK", b""] {
            assert_eq!(
                parse_status(bad),
                Err(format!(
                    "status code must be a 3 digit integer: {}",
                    bytes_repr(bad)
                ))
            );
        }
        assert_eq!(
            parse_status(b"200OK"),
            Err("no space following status code: b'200OK'".into())
        );
        assert_eq!(
            parse_status(b"200 OK\r\nX: y"),
            Err("control character in status reason phrase: b'200 OK\\r\\nX: y'".into())
        );
    }

    #[test]
    fn header_names() {
        assert!(check_header_name(b"Content-Type").is_ok());
        assert!(check_header_name(b"X:Y").is_ok());
        assert!(check_header_name(b"X\xe9").is_ok());
        assert_eq!(check_header_name(b""), Err("header name is empty".into()));
        assert_eq!(
            check_header_name(b"X Y"),
            Err("space character in header name: b'X Y'".into())
        );
        assert_eq!(
            check_header_name(b"X\tY"),
            Err("control character in header name: b'X\\tY'".into())
        );
        assert!(check_header_name(b"X\nY").is_err());
    }

    #[test]
    fn header_values() {
        for ok in [&b""[..], b" a b ", b"a\tb", b"a\x01b", b"a\x7fb", b"\xe9"] {
            assert!(check_header_value(ok).is_ok(), "{ok:?}");
        }
        assert_eq!(
            check_header_value(b"a\r\nSet-Cookie: x"),
            Err(
                "carriage return/line feed character in header value: b'a\\r\\nSet-Cookie: x'"
                    .into()
            )
        );
        assert!(check_header_value(b"a\nb").is_err());
    }

    #[test]
    fn hop_by_hop() {
        assert!(check_not_hop_by_hop("Cache-Control").is_ok());
        assert_eq!(
            check_not_hop_by_hop("connection"),
            Err("hop-by-hop header 'connection' is not allowed in a WSGI response".into())
        );
    }
}
