//! The path a path rule is matched against: the request path as the broadest origin would
//! read it.
//!
//! Origins disagree on what a path means: nginx merges `//`, most servers decode `%61`
//! to `a` and resolve `/x/../`, IIS folds case and reads `\` as `/`, Tomcat drops
//! `;param` from each segment. A rule `/adult` that matched the raw bytes only was
//! escaped by each of those spellings. So the decision is made on the path normalised the
//! way *any* of them might, which can only block more, never less:
//!
//! 1. every `%XX` is decoded once (unreserved characters, and also `%2F` and `%5C`: an
//!    encoded slash counts as a slash, since many origins decode it before routing);
//!    a `%` not followed by two hex digits stays as it is; double encoding (`%2561`)
//!    is decoded once only, as origins do;
//! 2. `\` counts as `/`;
//! 3. `;` parameters are dropped from every segment (`/adult;x=1/y` is `/adult/y`);
//! 4. repeated slashes collapse to one;
//! 5. `.` and `..` segments are resolved (RFC 3986 §5.2.4), never above the root;
//! 6. ASCII letters are lowercased: path rules are case-insensitive (rules are lowercased
//!    when loaded).
//!
//! The request itself is forwarded with its path exactly as the client sent it: rewriting
//! would change what some origins serve (signed URLs, APIs that treat `%2F` as data), and
//! since the decision was made on the broadest reading, whatever an origin makes of the
//! raw path was already checked.
//!
//! A clean path (lowercase, no `%`, `\`, `;`, `//` or dot segment: nearly every request)
//! is returned borrowed, without allocating.

use std::borrow::Cow;

/// The path to match path rules against (see the module docs). Borrowed when `path` is
/// already normal.
pub fn normalise(path: &str) -> Cow<'_, str> {
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    let decoded = decode(path);
    let mut out = String::with_capacity(decoded.len() + 1);
    let mut segments: Vec<(usize, usize)> = Vec::new();
    // Segments of the decoded path, split on '/' (and '\'), each cut at its first ';'.
    for raw in decoded.split(['/', '\\']) {
        let segment = raw.split(';').next().unwrap_or_default();
        match segment {
            "" => {}
            "." => {}
            ".." => {
                if let Some((start, _)) = segments.pop() {
                    out.truncate(start);
                }
            }
            segment => {
                let start = out.len();
                out.push('/');
                for c in segment.chars() {
                    out.push(c.to_ascii_lowercase());
                }
                segments.push((start, out.len()));
            }
        }
    }
    // A trailing slash (or a trailing dot segment, which names a directory) is kept, so
    // that a rule written `/games/` still matches `/games/./`.
    let ends_as_directory = {
        let last = decoded.rsplit(['/', '\\']).next().unwrap_or_default();
        let last = last.split(';').next().unwrap_or_default();
        matches!(last, "" | "." | "..")
    };
    if out.is_empty() || ends_as_directory {
        out.push('/');
    }
    Cow::Owned(out)
}

/// True when [`normalise`] would return `path` unchanged.
#[inline]
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    let mut previous = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'\\' | b';' | b'A'..=b'Z' => return false,
            b'/' if previous == b'/' => return false,
            b'.' if previous == b'/' => {
                // `/.` or `/..` as a whole segment.
                let rest = &bytes[i..];
                let dots = rest.iter().take_while(|&&c| c == b'.').count();
                if dots <= 2 && matches!(rest.get(dots), None | Some(b'/')) {
                    return false;
                }
            }
            _ => {}
        }
        previous = b;
    }
    true
}

/// Decodes every `%XX` once; invalid UTF-8 after decoding is replaced (U+FFFD), which
/// matches no rule.
fn decode(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths_are_borrowed() {
        for p in [
            "/",
            "/adult",
            "/a/b.c/d",
            "/x..y/z",
            "/.well-known/a",
            "/a/...",
            "/a-b_c~",
        ] {
            assert!(matches!(normalise(p), Cow::Borrowed(_)), "{p}");
            assert_eq!(normalise(p), p);
        }
    }

    /// Every spelling an origin may read as `/adult/x` normalises to it.
    #[test]
    fn every_spelling_of_a_path_normalises_to_it() {
        let spellings = [
            "/adult/x",
            "//adult/x",
            "/adult//x",
            "/./adult/x",
            "/adult/./x",
            "/y/../adult/x",
            "/y/z/../../adult/x",
            "/../adult/x",
            "/%61dult/x",
            "/%61%64%75%6c%74/x",
            "/%2Fadult/x",
            "/%2fadult%2fx",
            "/adult%2Fx",
            "/adult%5Cx",
            "/adult\\x",
            "/adult;x=1/x",
            "/adult;jsessionid=1/x;y",
            "/ADULT/X",
            "/AdUlT/x",
            "/%2e/adult/x",
            "/y/%2e%2e/adult/x",
            "/y/..;/adult/x",
        ];
        for s in spellings {
            assert_eq!(normalise(s), "/adult/x", "{s}");
        }
    }

    #[test]
    fn directory_forms_keep_their_trailing_slash() {
        assert_eq!(normalise("/games/./"), "/games/");
        assert_eq!(normalise("/games/x/.."), "/games/");
        assert_eq!(normalise("//"), "/");
        assert_eq!(normalise("/.."), "/");
        assert_eq!(normalise(""), "/");
    }

    #[test]
    fn decoding_is_done_once_and_bad_escapes_stay() {
        assert_eq!(normalise("/%2561dult"), "/%61dult");
        assert_eq!(normalise("/a%zz"), "/a%zz");
        assert_eq!(normalise("/a%"), "/a%");
        // Invalid UTF-8 after decoding matches nothing but does not panic.
        assert_eq!(normalise("/%ff%fe"), "/\u{fffd}\u{fffd}");
    }
}
