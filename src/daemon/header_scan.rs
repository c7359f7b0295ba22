//! What the C module's Apache child makes of a daemon's response headers:
//! it hands them to Apache's CGI-style header scan, which joins, replaces
//! and reorders them. Pure, so the rules are unit-tested here.

/// Response headers as the C module's Apache child hands a daemon's
/// response to Apache (its CGI-style header scan): values lose leading
/// whitespace; `Location`, `Content-Length`, `Content-Range`,
/// `Transfer-Encoding` and `Last-Modified` keep their last value and come
/// first; `Set-Cookie` and `WWW-Authenticate` stay one line each; any
/// other repeated header, whatever its case, becomes one line of
/// comma-separated values under the name it first came with. Cookies go
/// last. `Content-Type` keeps its last value; `Status` is taken out (see
/// [`status_header`]).
pub fn relayed_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    const REPLACED: &[&str] = &[
        "content-type",
        "location",
        "content-length",
        "content-range",
        "transfer-encoding",
        "last-modified",
    ];
    const SEPARATE: &[&str] = &["set-cookie", "www-authenticate"];
    let is = |list: &[&str], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let mut replaced: Vec<(String, String)> = Vec::new();
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut separate: Vec<(String, String)> = Vec::new();
    let mut cookies: Vec<(String, String)> = Vec::new();
    for (name, value) in headers {
        let value = value.trim_start().to_string();
        let same_name = |entry: &&mut (String, String)| entry.0.eq_ignore_ascii_case(name);
        if name.eq_ignore_ascii_case("status") {
            continue;
        } else if is(REPLACED, name) {
            match replaced.iter_mut().find(same_name) {
                Some(entry) => entry.1 = value,
                None => replaced.push((name.clone(), value)),
            }
        } else if name.eq_ignore_ascii_case("set-cookie") {
            cookies.push((name.clone(), value));
        } else if is(SEPARATE, name) {
            separate.push((name.clone(), value));
        } else {
            match merged.iter_mut().find(same_name) {
                Some(entry) => {
                    entry.1.push_str(", ");
                    entry.1.push_str(&value);
                }
                None => merged.push((name.clone(), value)),
            }
        }
    }
    separate
        .into_iter()
        .chain(replaced)
        .chain(merged)
        .chain(cookies)
        .collect()
}

/// The status a `Status` header (the last one) sets, as the CGI-style scan
/// takes it: a valid three-digit code and the reason phrase after it.
pub fn status_header(headers: &[(String, String)]) -> Option<(i32, String)> {
    let (_, value) = headers
        .iter()
        .rev()
        .find(|(name, _)| name.eq_ignore_ascii_case("status"))?;
    let value = value.trim_start();
    let code: i32 = value.get(..3)?.parse().ok()?;
    if !(100..=599).contains(&code) || value[3..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((code, value[3..].trim_start().to_string()))
}

#[cfg(test)]
mod tests {
    use super::{relayed_headers, status_header};

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn repeated_headers_join_as_the_c_module_relays_them() {
        let given = pairs(&[
            ("X-Dup", "one"),
            ("X-Other", "between"),
            ("Set-Cookie", "a=1"),
            ("x-dup", " two"),
            ("WWW-Authenticate", "Basic"),
            ("Location", "http://x/"),
            ("set-cookie", "b=2"),
            ("www-authenticate", "Bearer"),
            ("Location", "http://y/"),
            ("X-Empty", ""),
            ("X-Empty", "v"),
        ]);
        assert_eq!(
            relayed_headers(&given),
            pairs(&[
                ("WWW-Authenticate", "Basic"),
                ("www-authenticate", "Bearer"),
                ("Location", "http://y/"),
                ("X-Dup", "one, two"),
                ("X-Other", "between"),
                ("X-Empty", ", v"),
                ("Set-Cookie", "a=1"),
                ("set-cookie", "b=2"),
            ])
        );
    }

    #[test]
    fn single_headers_pass_unchanged() {
        let given = pairs(&[("Content-Type", "text/plain"), ("X-A", "trailing  ")]);
        assert_eq!(relayed_headers(&given), given);
    }

    #[test]
    fn a_status_header_sets_the_status() {
        let given = pairs(&[("Status", "404 Gone"), ("X-A", "1")]);
        assert_eq!(status_header(&given), Some((404, "Gone".to_string())));
        assert_eq!(relayed_headers(&given), pairs(&[("X-A", "1")]));
        assert_eq!(status_header(&pairs(&[("status", "20x")])), None);
        assert_eq!(status_header(&pairs(&[("X-A", "1")])), None);
    }
}
