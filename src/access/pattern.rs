//! IAM's wildcards, compiled once: `*` matches any run of characters (none
//! included), `?` exactly one character, everything else itself. Used for
//! `Action`, `Resource` and `StringLike`.
//!
//! The rule to remember: `*` crosses *everything* — `/`, `.`, `:` — as in IAM.
//! `https://a.example.com/*` cannot match `https://a.example.com.evil.net/`
//! because the pattern spells the `/` right after the host; `https://a.example.com*`
//! would match it. There is no escape: a `*` or `?` in a pattern is always a
//! wildcard (it also matches a literal `*` or `?`).
//!
//! Matching is case-sensitive; callers that want IAM's case-insensitive
//! actions lowercase both sides (see `engine`). It never backtracks past a
//! `*`: the pieces between stars are placed leftmost, one after another, so a
//! match costs at most O(len(text) × len(pattern)), and a literal piece is
//! found with `str::find` (linear). No regex is built from user input.

/// A compiled wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: Box<str>,
    shape: Shape,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Shape {
    /// Only stars: matches anything, the empty string too.
    Anything,
    /// No wildcard at all.
    Exact,
    /// No `*`: the text has exactly as many characters as the piece.
    Single(Piece),
    /// `first*middle*…*last`: `first` anchored at the start, `last` at the end.
    Starred {
        first: Piece,
        middle: Vec<Piece>,
        last: Piece,
    },
}

/// A run of the pattern between two stars.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// No `?`: plain text, compared byte for byte.
    Literal(Box<str>),
    /// With `?`: `None` stands for any one character.
    Wild(Box<[Option<char>]>),
}

impl Pattern {
    pub fn new(source: &str) -> Self {
        let shape = if !source.contains(['*', '?']) {
            Shape::Exact
        } else if source.chars().all(|c| c == '*') {
            Shape::Anything
        } else if !source.contains('*') {
            Shape::Single(Piece::new(source))
        } else {
            let mut pieces: Vec<Piece> = source.split('*').map(Piece::new).collect();
            let last = pieces.pop().expect("split yields at least one piece");
            let first = pieces.remove(0);
            // `a**b` is `a*b`: empty middles place nothing.
            pieces.retain(|piece| !piece.is_empty());
            Shape::Starred {
                first,
                middle: pieces,
                last,
            }
        };
        Self {
            source: source.into(),
            shape,
        }
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern has no wildcard (it matches only itself).
    pub fn is_exact(&self) -> bool {
        self.shape == Shape::Exact
    }

    /// The text before the first wildcard: every match starts with it.
    pub fn literal_prefix(&self) -> &str {
        let end = self.source.find(['*', '?']).unwrap_or(self.source.len());
        &self.source[..end]
    }

    pub fn matches(&self, text: &str) -> bool {
        match &self.shape {
            Shape::Anything => true,
            Shape::Exact => *self.source == *text,
            Shape::Single(piece) => piece.match_at(text, 0) == Some(text.len()),
            Shape::Starred {
                first,
                middle,
                last,
            } => {
                let Some(mut at) = first.match_at(text, 0) else {
                    return false;
                };
                for piece in middle {
                    match piece.find(text, at) {
                        Some(end) => at = end,
                        None => return false,
                    }
                }
                last.match_suffix(text, at)
            }
        }
    }
}

impl Piece {
    fn new(run: &str) -> Self {
        if run.contains('?') {
            Piece::Wild(run.chars().map(|c| (c != '?').then_some(c)).collect())
        } else {
            Piece::Literal(run.into())
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Piece::Literal(text) => text.is_empty(),
            Piece::Wild(atoms) => atoms.is_empty(),
        }
    }

    /// Where the piece ends if it matches `text` starting at byte `at`.
    fn match_at(&self, text: &str, at: usize) -> Option<usize> {
        let rest = &text[at..];
        match self {
            Piece::Literal(literal) => rest.starts_with(&**literal).then_some(at + literal.len()),
            Piece::Wild(atoms) => {
                let mut chars = rest.char_indices();
                for atom in atoms.iter() {
                    let (_, c) = chars.next()?;
                    if atom.is_some_and(|wanted| wanted != c) {
                        return None;
                    }
                }
                Some(at + chars.next().map_or(rest.len(), |(offset, _)| offset))
            }
        }
    }

    /// The end of the leftmost occurrence at or after byte `at`.
    fn find(&self, text: &str, at: usize) -> Option<usize> {
        match self {
            Piece::Literal(literal) => text[at..]
                .find(&**literal)
                .map(|offset| at + offset + literal.len()),
            Piece::Wild(_) => text[at..]
                .char_indices()
                .map(|(offset, _)| at + offset)
                .find_map(|start| self.match_at(text, start)),
        }
    }

    /// Whether the piece matches the end of `text`, starting no earlier than `at`.
    fn match_suffix(&self, text: &str, at: usize) -> bool {
        match self {
            Piece::Literal(literal) => {
                text.len() >= at + literal.len() && text.ends_with(&**literal)
            }
            Piece::Wild(atoms) => {
                // The suffix is exactly `atoms.len()` characters long.
                let Some((start, _)) = text[at..].char_indices().rev().nth(atoms.len() - 1) else {
                    return false;
                };
                self.match_at(text, at + start) == Some(text.len())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn wildcards_match_what_they_say_and_no_more() {
        // (pattern, text, matches)
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything at all", true),
            ("**", "", true),
            ("", "", true),
            ("", "x", false),
            ("http:GET", "http:GET", true),
            ("http:GET", "http:GETX", false),
            ("http:GET", "http:GE", false),
            ("http:G?T", "http:GET", true),
            ("http:G?T", "http:GT", false),
            ("http:G?T", "http:GEET", false),
            ("?", "é", true),
            ("?", "", false),
            ("??", "é", false),
            ("a?c", "aéc", true),
            ("https://a.example.com/*", "https://a.example.com/", true),
            ("https://a.example.com/*", "https://a.example.com/x/y", true),
            ("https://a.example.com/*", "https://a.example.com", false),
            (
                "https://a.example.com/*",
                "https://a.example.com.evil.net/",
                false,
            ),
            (
                "https://a.example.com/*",
                "https://evil.net/https://a.example.com/",
                false,
            ),
            (
                "https://a.example.com*",
                "https://a.example.com.evil.net/",
                true,
            ),
            ("https://*.example.com/*", "https://b.example.com/x", true),
            (
                "https://*.example.com/*",
                "https://evil.net/.example.com/",
                true,
            ),
            ("*/admin/*", "https://h/admin/x", true),
            ("*/admin/*", "https://h/administrator", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("ab*ba", "aba", false),
            ("ab*ba", "abba", true),
            ("a*?", "a", false),
            ("a*?", "ab", true),
            ("*?b", "éb", true),
            ("*?b", "b", false),
            ("a*é?", "abcéx", true),
            ("x*?y?*z", "xay1z", true),
            ("x*?y?*z", "xyz", false),
            ("Resource", "resource", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                Pattern::new(pattern).matches(text),
                *expected,
                "{pattern:?} against {text:?}"
            );
        }
    }

    #[test]
    fn many_stars_against_a_long_near_miss_finish() {
        // Exponential with naive backtracking; one pass here.
        let pattern = Pattern::new(&format!("{}b", "*a".repeat(50)));
        let text = "a".repeat(100_000);
        assert!(!pattern.matches(&text));
        let wild = Pattern::new(&format!("{}b", "*?a".repeat(50)));
        assert!(!wild.matches(&text));
        assert!(pattern.matches(&(text.clone() + "b")));
    }
}
