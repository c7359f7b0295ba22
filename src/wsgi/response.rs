//! Pure validation of what applications hand to `start_response`.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResponseError {
    #[error("invalid status line '{0}': expected a three-digit code, a space and a reason phrase")]
    BadStatus(String),
    #[error("invalid response header name '{0}'")]
    BadHeaderName(String),
    #[error("response header '{0}' has a value containing a control character")]
    BadHeaderValue(String),
    #[error("hop-by-hop header '{0}' is not allowed in a WSGI response")]
    HopByHop(String),
}

/// Parses "200 OK" into its code.
pub fn parse_status(line: &str) -> Result<i32, ResponseError> {
    let bytes = line.as_bytes();
    let valid = bytes.len() >= 4
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && bytes[3] == b' '
        && !line.bytes().any(|b| b.is_ascii_control())
        && bytes[0] != b'0';
    if !valid {
        return Err(ResponseError::BadStatus(line.to_string()));
    }
    Ok(line[..3].parse().expect("three digits"))
}

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

pub fn check_header(name: &str, value: &[u8]) -> Result<(), ResponseError> {
    let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token_char) {
        return Err(ResponseError::BadHeaderName(name.to_string()));
    }
    if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(ResponseError::BadHeaderValue(name.to_string()));
    }
    if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Err(ResponseError::HopByHop(name.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("200 OK"), Ok(200));
        assert_eq!(parse_status("404 Not Found"), Ok(404));
        assert!(parse_status("200").is_err());
        assert!(parse_status("20 OK").is_err());
        assert!(parse_status("abc OK").is_err());
        assert!(parse_status("200 OK\r\nX: y").is_err());
        assert!(parse_status("099 Low").is_err());
    }

    #[test]
    fn headers() {
        assert!(check_header("Content-Type", b"text/plain").is_ok());
        assert_eq!(
            check_header("X-Bad", b"a\r\nb"),
            Err(ResponseError::BadHeaderValue("X-Bad".into()))
        );
        assert!(check_header("Bad Name", b"x").is_err());
        assert!(check_header("Connection", b"close").is_err());
        assert!(check_header("X-Tab", b"a\tb").is_ok());
    }
}
