//! Output capping: one UTF-8 byte budget shared by stdout and stderr, stdout
//! first, never cutting a character in half.

/// The largest `n <= max` such that `bytes[..n]` does not end inside a UTF-8
/// sequence that starts before `n`. Invalid bytes are treated as
/// one-byte units (lossy decoding replaces them later anyway).
pub fn utf8_prefix_len(bytes: &[u8], max: usize) -> usize {
    if max >= bytes.len() {
        return bytes.len();
    }
    if !is_continuation(bytes[max]) {
        return max;
    }
    // `bytes[max]` continues a sequence: find its lead byte (at most 3 back).
    let floor = max.saturating_sub(3);
    let mut lead = max;
    while lead > floor && is_continuation(bytes[lead]) {
        lead -= 1;
    }
    if is_continuation(bytes[lead]) {
        // No lead byte in reach: stray continuation bytes, any cut is fine.
        return max;
    }
    if lead + sequence_len(bytes[lead]) > max {
        lead
    } else {
        max
    }
}

fn is_continuation(byte: u8) -> bool {
    byte & 0b1100_0000 == 0b1000_0000
}

fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF7 => 4,
        _ => 1,
    }
}

/// The longest prefix of `s` that is at most `max` bytes and ends on a
/// character boundary.
pub fn str_prefix(s: &str, max: usize) -> &str {
    if max >= s.len() {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// How many bytes of each raw stream to keep under one shared budget:
/// stdout first, stderr gets the rest. `(stdout_len, stderr_len, truncated)`.
pub fn truncate_captured_bytes(
    stdout: &[u8],
    stderr: &[u8],
    max: Option<u64>,
) -> (usize, usize, bool) {
    let Some(max) = max else {
        return (stdout.len(), stderr.len(), false);
    };
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    if stdout.len().saturating_add(stderr.len()) <= max {
        return (stdout.len(), stderr.len(), false);
    }
    let out = utf8_prefix_len(stdout, max);
    let err = utf8_prefix_len(stderr, max - out);
    (out, err, true)
}

/// Trim decoded output to a combined UTF-8 byte budget (`None`: no cap).
/// Returns `(stdout, stderr, truncated)`.
pub fn truncate_captured_output(
    stdout: &str,
    stderr: &str,
    max: Option<u64>,
) -> (String, String, bool) {
    let Some(limit) = max else {
        return (stdout.to_string(), stderr.to_string(), false);
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if stdout.len().saturating_add(stderr.len()) <= limit {
        return (stdout.to_string(), stderr.to_string(), false);
    }
    let out = str_prefix(stdout, limit);
    let err = str_prefix(stderr, limit - out.len());
    (out.to_string(), err.to_string(), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cap_passes_through() {
        assert_eq!(
            truncate_captured_output("a", "b", None),
            ("a".into(), "b".into(), false)
        );
        assert_eq!(
            truncate_captured_output("ab", "cd", Some(4)),
            ("ab".into(), "cd".into(), false)
        );
    }

    #[test]
    fn stdout_keeps_priority() {
        assert_eq!(
            truncate_captured_output("hello", "world", Some(7)),
            ("hello".into(), "wo".into(), true)
        );
        assert_eq!(
            truncate_captured_output("hello world", "err", Some(5)),
            ("hello".into(), "".into(), true)
        );
        assert_eq!(
            truncate_captured_output("abc", "def", Some(0)),
            ("".into(), "".into(), true)
        );
    }

    #[test]
    fn never_splits_a_code_point() {
        // "é" is 2 bytes, "€" 3, "😀" 4.
        assert_eq!(
            truncate_captured_output("aé", "", Some(2)),
            ("a".into(), "".into(), true)
        );
        assert_eq!(
            truncate_captured_output("€€", "x", Some(5)),
            ("€".into(), "x".into(), true)
        );
        assert_eq!(
            truncate_captured_output("ok", "😀😀", Some(9)),
            ("ok".into(), "😀".into(), true)
        );
        assert_eq!(
            truncate_captured_output("😀", "", Some(3)),
            ("".into(), "".into(), true)
        );
    }

    #[test]
    fn byte_prefixes_respect_sequences() {
        let s = "a€b".as_bytes(); // 61 e2 82 ac 62
        assert_eq!(utf8_prefix_len(s, 0), 0);
        assert_eq!(utf8_prefix_len(s, 1), 1);
        assert_eq!(utf8_prefix_len(s, 2), 1);
        assert_eq!(utf8_prefix_len(s, 3), 1);
        assert_eq!(utf8_prefix_len(s, 4), 4);
        assert_eq!(utf8_prefix_len(s, 5), 5);
        assert_eq!(utf8_prefix_len(s, 99), 5);
        let four = "😀".as_bytes();
        for max in 0..4 {
            assert_eq!(utf8_prefix_len(four, max), 0);
        }
        assert_eq!(utf8_prefix_len(four, 4), 4);
    }

    #[test]
    fn byte_prefixes_tolerate_invalid_input() {
        // Stray continuation bytes: cut anywhere.
        let junk = [0x80u8, 0x80, 0x80, 0x80, 0x80];
        assert_eq!(utf8_prefix_len(&junk, 3), 3);
        // A truncated sequence followed by ASCII.
        let bad = [0xE2u8, 0x82, b'a', b'b'];
        assert_eq!(utf8_prefix_len(&bad, 1), 0);
        assert_eq!(utf8_prefix_len(&bad, 2), 2);
        assert_eq!(utf8_prefix_len(&bad, 3), 3);
        // A lone lead byte claiming more than follows is fine to keep whole.
        assert_eq!(utf8_prefix_len(&[0xFFu8, 0x80], 1), 1);
    }

    #[test]
    fn byte_budget_is_shared() {
        assert_eq!(truncate_captured_bytes(b"abc", b"def", None), (3, 3, false));
        assert_eq!(
            truncate_captured_bytes(b"abc", b"def", Some(6)),
            (3, 3, false)
        );
        assert_eq!(
            truncate_captured_bytes(b"abc", b"def", Some(4)),
            (3, 1, true)
        );
        assert_eq!(
            truncate_captured_bytes("é".as_bytes(), b"x", Some(1)),
            (0, 1, true)
        );
        assert_eq!(truncate_captured_bytes(b"", b"", Some(0)), (0, 0, false));
    }
}
