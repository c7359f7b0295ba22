//! Splitting a directive's argument line into words.
//!
//! Words follow Apache's configuration quoting (`ap_getword_conf`): a word
//! that starts with `'` or `"` runs to the matching quote, inside which a
//! backslash escapes that quote or a backslash; any other word runs to the
//! next whitespace, and `\\` in it stands for one backslash.
//!
//! `name=value` options follow mod_wsgi's rule: the name runs to the `=`,
//! and the value after it is read as a word of its own, so it may be quoted
//! (`home='/srv/app'`, `python-path=''`). An option comes back as one
//! `name=value` string with the quotes removed.

/// Skips C `isspace` characters, as `apr_isspace` does.
fn skip_space(line: &str) -> &str {
    line.trim_start_matches(is_space)
}

use super::text::is_c_space as is_space;

/// Reads one word from the front of `line` and advances past it and the
/// whitespace after it. `None` at the end of the line; a quoted empty word
/// (`''`) is `Some("")`.
pub fn next_word(line: &mut &str) -> Option<String> {
    let rest = skip_space(line);
    let mut chars = rest.char_indices().peekable();
    let (_, first) = *chars.peek()?;
    let mut word = String::new();
    let end;
    if first == '\'' || first == '"' {
        let quote = first;
        chars.next();
        loop {
            match chars.next() {
                None => {
                    // An unterminated quote runs to the end, as in Apache.
                    end = rest.len();
                    break;
                }
                Some((i, c)) if c == quote => {
                    end = i + c.len_utf8();
                    break;
                }
                Some((_, '\\')) => match chars.peek() {
                    Some(&(_, next)) if next == quote || next == '\\' => {
                        word.push(next);
                        chars.next();
                    }
                    _ => word.push('\\'),
                },
                Some((_, c)) => word.push(c),
            }
        }
    } else {
        let stop = rest.find(is_space).unwrap_or(rest.len());
        let mut raw = rest[..stop].chars().peekable();
        while let Some(c) = raw.next() {
            if c == '\\' && raw.peek() == Some(&'\\') {
                raw.next();
            }
            word.push(c);
        }
        end = stop;
    }
    *line = skip_space(&rest[end..]);
    Some(word)
}

/// Every word of the line, each read with [`next_word`].
pub fn split_words(line: &str) -> Vec<String> {
    let mut rest = line;
    std::iter::from_fn(|| next_word(&mut rest)).collect()
}

/// `positional` plain words, then `name=value` options whose values may be
/// quoted. A token after the positional words that has no `=` before the
/// next whitespace is returned as a plain word, so the directive's own
/// parser can say what is wrong with it.
pub fn split_with_options(line: &str, positional: usize) -> Vec<String> {
    let mut rest = line;
    let mut words = Vec::new();
    for _ in 0..positional {
        match next_word(&mut rest) {
            Some(word) => words.push(word),
            None => return words,
        }
    }
    loop {
        rest = skip_space(rest);
        if rest.is_empty() {
            return words;
        }
        let name_end = rest.find(|c: char| c == '=' || is_space(c));
        match name_end {
            Some(i) if i > 0 && rest[i..].starts_with('=') => {
                let name = &rest[..i];
                let mut value_rest = &rest[i + 1..];
                // A value that is only whitespace away from the end of the
                // line is empty, as `ap_getword_conf` returns "" there.
                let value = if value_rest.starts_with(is_space) {
                    String::new()
                } else {
                    next_word(&mut value_rest).unwrap_or_default()
                };
                words.push(format!("{name}={value}"));
                rest = value_rest;
            }
            _ => match next_word(&mut rest) {
                Some(word) => words.push(word),
                None => return words,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_quoted_words() {
        assert_eq!(split_words("  a  b\tc "), ["a", "b", "c"]);
        assert_eq!(split_words("'a b' \"c d\""), ["a b", "c d"]);
        assert_eq!(split_words("'' x"), ["", "x"]);
        assert!(split_words("   ").is_empty());
    }

    #[test]
    fn backslash_escapes_follow_apache() {
        assert_eq!(
            split_words(r#"'it\'s' "a\"b" 'x\y'"#),
            ["it's", "a\"b", r"x\y"]
        );
        assert_eq!(split_words(r"'a\\b' c\\d e\f"), [r"a\b", r"c\d", r"e\f"]);
    }

    #[test]
    fn quote_inside_a_plain_word_is_literal() {
        assert_eq!(split_words("home='/srv/app'"), ["home='/srv/app'"]);
    }

    #[test]
    fn unterminated_quote_runs_to_end_of_line() {
        assert_eq!(split_words("'abc def"), ["abc def"]);
    }

    #[test]
    fn option_values_may_be_quoted() {
        assert_eq!(
            split_with_options(
                "'localhost:8000' home='/srv/my app' display-name='(wsgi:site)' python-path='' x=%{GLOBAL}",
                1
            ),
            [
                "localhost:8000",
                "home=/srv/my app",
                "display-name=(wsgi:site)",
                "python-path=",
                "x=%{GLOBAL}",
            ]
        );
    }

    #[test]
    fn option_value_keeps_later_equals_signs() {
        assert_eq!(
            split_with_options("/x '/y z' a=\"b=c\" d=e=f", 2),
            ["/x", "/y z", "a=b=c", "d=e=f"]
        );
    }

    #[test]
    fn empty_option_value_at_end_or_before_space() {
        assert_eq!(split_with_options("g a= b=1", 1), ["g", "a=", "b=1"]);
        assert_eq!(split_with_options("g a=", 1), ["g", "a="]);
    }

    #[test]
    fn token_without_equals_stays_a_word_for_the_parser_to_reject() {
        assert_eq!(
            split_with_options("g nonsense 'q r'", 1),
            ["g", "nonsense", "q r"]
        );
        assert_eq!(split_with_options("g =x", 1), ["g", "=x"]);
    }

    #[test]
    fn fewer_positional_words_than_expected() {
        assert_eq!(split_with_options("", 2), Vec::<String>::new());
        assert_eq!(split_with_options("/only", 2), ["/only"]);
    }
}
