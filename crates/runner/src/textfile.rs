//! Reading a package's text inputs with errors that name the line.

use super::JobError;

/// The file as UTF-8; invalid bytes are reported with their line and byte offset.
pub(crate) fn utf8(name: &str, bytes: Vec<u8>) -> Result<String, JobError> {
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
        JobError::input(name, format!("line {line}: invalid UTF-8 at byte {at}"))
    })
}

/// The lines of a text file, numbered from 1, without line endings (`\n` or `\r\n`); one final
/// newline does not make an extra line.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let body = if text.is_empty() { None } else { Some(body) };
    body.into_iter()
        .flat_map(|b| b.split('\n'))
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

#[cfg(test)]
mod tests {
    #[test]
    fn lines_are_numbered_without_endings() {
        let got: Vec<_> = super::lines("a\r\nb\n\nc\n").collect();
        assert_eq!(got, vec![(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        assert_eq!(super::lines("").count(), 0);
        assert_eq!(super::lines("\n").collect::<Vec<_>>(), vec![(1, "")]);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let err = super::utf8("s.txt", b"ok\nbad \xff here".to_vec()).expect_err("invalid").to_string();
        assert_eq!(err, "s.txt: line 2: invalid UTF-8 at byte 7");
    }
}
