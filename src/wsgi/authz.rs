//! `Require wsgi-group`: which groups a line names and whether a user's
//! groups satisfy it. Pure, so it is unit-tested without Apache.

/// The group names a `Require wsgi-group` line lists: words separated by
/// blanks, each possibly in double or single quotes.
pub fn required_groups(line: &str) -> Vec<String> {
    let mut groups = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let (word, after) = match rest.chars().next() {
            Some(quote @ ('"' | '\'')) => {
                let body = &rest[1..];
                match body.find(quote) {
                    Some(end) => (&body[..end], &body[end + 1..]),
                    None => (body, ""),
                }
            }
            _ => match rest.find(char::is_whitespace) {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            },
        };
        groups.push(word.to_string());
        rest = after.trim_start();
    }
    groups
}

/// Why a user passes or fails `Require wsgi-group`.
#[derive(Debug, PartialEq, Eq)]
pub enum Membership {
    Member,
    NoGroups,
    NotInRequired,
}

pub fn membership(user_groups: &[String], required: &[String]) -> Membership {
    if user_groups.is_empty() {
        Membership::NoGroups
    } else if required.iter().any(|g| user_groups.contains(g)) {
        Membership::Member
    } else {
        Membership::NotInRequired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_line_words_and_quotes() {
        assert_eq!(required_groups("staff"), vec!["staff"]);
        assert_eq!(
            required_groups("  staff  'secret agents' \"a b\"  x"),
            vec!["staff", "secret agents", "a b", "x"]
        );
        assert_eq!(required_groups("\"open"), vec!["open"]);
        assert!(required_groups("   ").is_empty());
    }

    #[test]
    fn membership_outcomes() {
        let groups = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            membership(&groups(&["staff"]), &groups(&["admins", "staff"])),
            Membership::Member
        );
        assert_eq!(
            membership(&groups(&["staff"]), &groups(&["admins"])),
            Membership::NotInRequired
        );
        assert_eq!(
            membership(&groups(&[]), &groups(&["admins"])),
            Membership::NoGroups
        );
    }
}
